"""What the policy needs to know about the CRM, in CRM-neutral terms.

The adapter looks these up (search by the customer's number, the user directory) and declares what
its CRM can hold; the policy never asks which CRM it is talking to. Facts describe the CRM *before*
this call's own writes: a workflow looks them up once per call and keeps them with the call, so a
retried decision sees the same facts and repeats the same intents instead of treating the client it
has just created as a repeat caller.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FoundKind = Literal["contact", "company", "lead", "deal", "case"]
CreatableKind = Literal["contact", "company", "lead", "deal", "unsorted"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntityRef(_Frozen):
    """A CRM record a call can be filed on."""

    kind: FoundKind
    id: str = Field(min_length=1)
    name: str | None = None


class FoundEntity(EntityRef):
    """A record found by the customer's number, with what the policy asks of it."""

    responsible_user_ids: tuple[str, ...] = Field(
        default=(), description="Responsibles in the CRM's own order (F15 takes the first usable one)"
    )
    is_open: bool = Field(default=True, description="For a lead, deal or case: not closed, won or lost")
    open_lead_ids: tuple[str, ...] = ()
    open_deal_ids: tuple[str, ...] = ()
    open_case_ids: tuple[str, ...] = Field(
        default=(),
        description="For a helpdesk user: open missed-call cases still waiting for a conversation, newest "
        "first — the caller's next missed call joins the first, a conversation settles them all (F36–F39)",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Standard and custom fields by the names the CRM shows (and by id), for routing rules",
    )
    tags: tuple[str, ...] = ()

    def ref(self) -> EntityRef:
        return EntityRef(kind=self.kind, id=self.id, name=self.name)

    def has_open(self, kind: Literal["lead", "deal"]) -> bool:
        """Whether the client already has an open lead / deal («создавать, если нет открытых»)."""
        if self.kind == kind and self.is_open:
            return True
        return bool(self.open_lead_ids if kind == "lead" else self.open_deal_ids)


class CrmUser(_Frozen):
    """An entry of the CRM's user directory."""

    id: str = Field(min_length=1)
    name: str | None = None
    blocked: bool = False
    deleted: bool = False
    is_client: bool = Field(
        default=False, description="A client put in the responsible field (Megaplan allows it); never used"
    )

    @property
    def can_be_responsible(self) -> bool:
        return not (self.blocked or self.deleted or self.is_client)


class CrmFacts(_Frozen):
    """The CRM as the call found it: records with the customer's number, first found first (F14)."""

    phone: str | None = Field(default=None, description="The number that was searched (E.164)")
    found: tuple[FoundEntity, ...] = ()
    users: tuple[CrmUser, ...] = ()

    @property
    def is_new_number(self) -> bool:
        return not self.found

    def user(self, user_id: str) -> CrmUser | None:
        return next((u for u in self.users if u.id == user_id), None)


class Capabilities(_Frozen):
    """What the tenant's CRM adapter can do; CRM differences reach the policy only through this."""

    contact: bool = False
    company: bool = False
    lead: bool = Field(default=False, description="A qualification lead («Лид»), separate from deals")
    deal: bool = Field(default=False, description="A deal / process / amoCRM lead, in a pipeline")
    unsorted: bool = Field(
        default=False, description="An incoming lead awaiting acceptance («Неразобранное»)"
    )
    case: bool = Field(default=False, description="Support cases: each call record becomes or joins a case")
    tasks: bool = False
    call_tracking_fields: bool = Field(default=False, description="Call-tracking fields on created entities")
    customer_for_every_call: bool = Field(
        default=False,
        description="Calls can only be filed under a person, so one is created from any new number (F11)",
    )

    def supports(self, kind: CreatableKind) -> bool:
        return bool(getattr(self, kind))
