"""CRM-neutral intents: what the policy asks the CRM adapter to do for one call.

Every intent carries a `key`, unique within the call, so tenant × entry_id × key identifies one CRM
write: executing a decision twice (a retry, a duplicate call notification) repeats no write. Every
intent also carries a `reason` a person can read: the rule and the setting that produced it.
Intents refer to each other by key (`related_keys`, `targets`): "the contact this decision creates"
is only known to the adapter once it has created it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mango_bridge.calls.visitor import Visitor
from mango_bridge.policy.facts import EntityRef

Side = Literal["incoming", "outgoing"]
CallResult = Literal["answered", "missed", "reached", "not_reached"]
BoundBy = Literal["employee", "save_all_calls", "missed_in_ivr", "missed_in_group"]
"""Why a record has its responsible: the employee's own mapping, or the setting that named one."""
CaseStatus = Literal["open", "waiting", "closed"]
"""A helpdesk case's status: «открытое», «в ожидании», «закрытое» (seed 003, F39)."""

CREATE_CONTACT = "create_contact"
CREATE_COMPANY = "create_company"
CREATE_LEAD = "create_lead"
CREATE_DEAL = "create_deal"
CREATE_UNSORTED = "create_unsorted"
UPDATE_RESPONSIBLE = "update_responsible"
SAVE_CALL_TRACKING = "save_call_tracking"


def log_call_key(leg_id: str) -> str:
    """One record per conversation, named after the leg the conversation started on."""
    return f"log_call:{leg_id}"


def update_case_key(case_id: str) -> str:
    """A call changes an existing case at most once."""
    return f"update_case:{case_id}"


class _Intent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class _CreateIntent(_Intent):
    responsible_user_id: str = Field(min_length=1, description="Creator and responsible in the CRM")
    name: str = Field(description="«Новый (16:30 05.03.2018, входящий вызов)» in the tenant's time zone")
    phone: str | None = Field(description="The customer's number, E.164 where it parses")
    source_line: str | None = Field(default=None, description="«Номер линии MANGO OFFICE» (F16)")


class CreateContact(_CreateIntent):
    kind: Literal["create_contact"] = "create_contact"


class CreateCompany(_CreateIntent):
    kind: Literal["create_company"] = "create_company"
    contact_key: str | None = Field(default=None, description="The contact created with it, to link")


class CreateLead(_CreateIntent):
    kind: Literal["create_lead"] = "create_lead"
    need_type: str | None = Field(default=None, description="Тип потребности")
    stage: str | None = Field(default=None, description="Этап")
    customer: EntityRef | None = Field(default=None, description="The existing client it belongs to")
    related_keys: tuple[str, ...] = Field(default=(), description="Entities created with it, to link")


class CreateDeal(_CreateIntent):
    kind: Literal["create_deal"] = "create_deal"
    program: str | None = Field(default=None, description="Программа / воронка")
    status: str | None = Field(default=None, description="Статус")
    customer: EntityRef | None = None
    related_keys: tuple[str, ...] = ()


class CreateUnsortedLead(_CreateIntent):
    kind: Literal["create_unsorted"] = "create_unsorted"
    line_number: str | None = None
    started_at: int | None = None
    duration_seconds: int = 0


class CaseFiling(BaseModel):
    """Where a helpdesk (capability `case`) files one call record, and in which words (F32–F39).

    The policy writes the words because only it knows the tenant's time zone and employees' names.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: EntityRef | None = Field(
        default=None,
        description="The existing case the call joins (an open missed-call case); none opens one",
    )
    subject: str | None = Field(default=None, description="The new case's subject, «Входящий звонок с +7…»")
    status: CaseStatus | None = Field(default=None, description="The new case's status")
    missed_call: bool = Field(
        default=False,
        description="The new case is a missed-call case: marked as such, and the caller's next missed calls "
        "join it until a conversation happens (F36)",
    )
    text: str = Field(
        min_length=1,
        description="What happened on the call: the new case's first message, or what is added to the joined "
        "case (a conversation as the employee's reply with the recording, a missed call as the caller's "
        "message, a call attempt as a note)",
    )


class LogCall(_Intent):
    """One call record: an employee's conversation, or the whole call when nobody talked."""

    kind: Literal["log_call"] = "log_call"
    direction: Side
    result: CallResult
    started_at: int | None
    duration_seconds: int = Field(ge=0)
    responsible_user_id: str
    bound_by: BoundBy
    employee_extension: str | None = Field(description="Whose conversation (or who missed it), if anyone")
    talk_leg_ids: tuple[str, ...] = Field(description="The legs on which this conversation took place")
    leg_ids: tuple[str, ...] = Field(description="Every leg this record accounts for (IVR, ringing, hunting)")
    recording_ids: tuple[str, ...] = ()
    line_number: str | None = None
    phone: str | None = Field(description="The customer's number")
    customer: EntityRef | None = Field(description="The existing record it is filed on (F14)")
    related_keys: tuple[str, ...] = Field(default=(), description="Records created by this decision")
    case: CaseFiling | None = Field(
        default=None, description="For a helpdesk: the case this record opens or joins (none: not filed)"
    )


class UpdateCase(_Intent):
    """A status change of a case this call did not open: a missed-call case the caller has now talked
    about is closed (F39) or, when the callback is filed into it, waits and is marked handled (F37)."""

    kind: Literal["update_case"] = "update_case"
    case: EntityRef
    status: CaseStatus
    handled: bool = Field(
        default=False,
        description="The missed call got its conversation: its missed-call mark becomes «handled»",
    )


class UpdateResponsible(_Intent):
    kind: Literal["update_responsible"] = "update_responsible"
    targets: tuple[str, ...] = Field(description="Keys of the create intents whose responsible changes")
    responsible_user_id: str


class SaveCallTracking(_Intent):
    kind: Literal["save_call_tracking"] = "save_call_tracking"
    targets: tuple[str, ...]
    tracking_number: str | None
    number_type: Literal["dynamic", "static"]
    visitor: Visitor | None = Field(
        default=None, description="The visitor's data (F23 fields), when Mango still had it bound"
    )


Intent = Annotated[
    CreateContact
    | CreateCompany
    | CreateLead
    | CreateDeal
    | CreateUnsortedLead
    | UpdateResponsible
    | SaveCallTracking
    | UpdateCase
    | LogCall,
    Field(discriminator="kind"),
]
CreateIntent = CreateContact | CreateCompany | CreateLead | CreateDeal | CreateUnsortedLead
