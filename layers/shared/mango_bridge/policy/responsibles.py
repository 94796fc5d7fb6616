"""Whose name goes on a record: employee mapping (F4), the settings that name a responsible (F5, F6,
«Сохранять все звонки»), and the responsible of an existing client (F15)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mango_bridge.policy.facts import CrmFacts, FoundEntity
from mango_bridge.policy.intents import BoundBy
from mango_bridge.settings.model import TenantSettings

SAVE_ALL_CALLS = "«Сохранять все звонки»"
IGNORE_CALLS = "«Игнорировать звонки этого оператора»"
MISSED_IN_IVR = "«Фиксировать пропущенные в IVR»"
MISSED_IN_GROUP = "«Ответственный при пропущенных звонках в группу»"


@dataclass(frozen=True)
class Binding:
    """A record's responsible and why it is that user."""

    user_id: str
    bound_by: BoundBy
    extension: str | None = None

    @property
    def is_employee(self) -> bool:
        return self.bound_by == "employee"

    def describe(self) -> str:
        if self.bound_by == "employee":
            return f"employee {self.extension} (CRM user {self.user_id})"
        if self.bound_by == "save_all_calls":
            return f"CRM user {self.user_id} from {SAVE_ALL_CALLS} (employee {self.extension} is not mapped)"
        setting = MISSED_IN_IVR if self.bound_by == "missed_in_ivr" else MISSED_IN_GROUP
        return f"CRM user {self.user_id} from {setting}"


@dataclass(frozen=True)
class Dropped:
    """An employee whose calls are not saved, and why."""

    extension: str
    reason: str


def bind_employee(extension: str, settings: TenantSettings) -> Binding | Dropped:
    """The CRM user an employee's record belongs to, per the mapping and «Сохранять все звонки»."""
    employee = settings.employee(extension)
    if employee is not None and employee.ignore_calls:
        return Dropped(extension, f"employee {extension} is set to {IGNORE_CALLS}")
    if employee is not None:
        return Binding(employee.crm_user_id, "employee", extension)
    fallback = settings.responsibles.save_all_calls_user
    if fallback:
        return Binding(fallback, "save_all_calls", extension)
    return Dropped(extension, f"employee {extension} is not mapped and {SAVE_ALL_CALLS} is off")


def is_ignored(extension: str, settings: TenantSettings) -> bool:
    employee = settings.employee(extension)
    return employee is not None and employee.ignore_calls


def prefer_employee(bindings: Iterable[Binding]) -> Binding | None:
    """The first binding to a mapped employee, else the first at all.

    A client created from a call belongs to a real CRM user when one took part, rather than to the
    «Сохранять все звонки» stand-in for an employee who has no CRM account (seed 002's transfers).
    """
    items = list(bindings)
    return next((b for b in items if b.is_employee), items[0] if items else None)


def first_usable_responsible(entity: FoundEntity, facts: CrmFacts) -> str | None:
    """F15: the first responsible who is a known CRM user, not blocked or deleted, and not a client.

    An id missing from the user directory is not trusted: it may be a client put in the
    responsible field, and assigning work to it would fail in the CRM.
    """
    for user_id in entity.responsible_user_ids:
        user = facts.user(user_id)
        if user is not None and user.can_be_responsible:
            return user_id
    return None
