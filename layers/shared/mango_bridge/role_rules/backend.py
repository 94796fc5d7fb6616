"""What the role rules (F31) need from a CRM, in CRM-neutral terms.

The interpreter (`role_rules.interpreter`) decides *which* rows apply and in what order; a backend
only loads, creates and links records. Entity types are named as BPMSoft shows them to the user in
the rule table («Контакт», «Контрагент», «Обращение», «Лид», …) and ids are strings, so the table a
customer copies from BPMSoft drives any backend unchanged. BPMSoft's backend lives in
`mango_bridge.crm.bpmsoft`; tests use an in-memory one.

Errors: a CRM outage or rate limit raises the `mango_bridge.crm.errors` classes (the workflow
retries the whole run, so every write takes a stable `key` and must be idempotent on it); an action
the CRM cannot perform with these records (no column links the two types, an unknown entity type)
raises `ActionRefused`, which the interpreter records on the row and then carries on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

ACCOUNT = "Контрагент"
"""The entity type «Открыть карточку контрагента» opens."""


class ActionRefused(ValueError):
    """The CRM cannot do this action with these records; retrying will not help (named in the history)."""


@dataclass(frozen=True)
class Entity:
    """A CRM record the rules loaded or created: its type as BPMSoft names it, and its id."""

    type: str
    id: str
    name: str = ""
    owner_id: str | None = None


@dataclass(frozen=True)
class RuleCall:
    """The call the rules run for, as the rules see it.

    `client_number` is the client's number (E.164 when it is a phone number) — what `%number%`
    stands for and what «участники звонка» are searched by. `operator_user_id` is the CRM user who
    took the call (the first employee who talked; for a missed call the first one it rang) — the one
    «Назначить ответственным» and «…с учетом ответственного» mean. `roles` are that employee's
    functional roles as the rule table names them.
    """

    entry_id: str
    direction: Literal["incoming", "outgoing"]
    client_number: str | None = None
    operator_user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    line_number: str | None = None
    answered: bool = True


@runtime_checkable
class RulesBackend(Protocol):
    """The data operations of the rule table's actions. Reads return records first found first."""

    def functional_roles(self, user_id: str) -> Sequence[str]:
        """The functional (and organisational) roles of a CRM user, by the names the rule table's
        «Функциональная роль» column uses; empty for an unknown user."""
        ...

    def load_from_context(self, call: RuleCall, entity_type: str | None) -> Sequence[Entity]:
        """«Загрузить сущности из контекста»: records the call was started from (an outgoing call
        dialled from a record's page), of `entity_type` or of every type when it is None; none for
        calls without a context."""
        ...

    def load_linked_to(self, entity_type: str, others: Sequence[Entity]) -> Sequence[Entity]:
        """«Загрузить сущности, привязанные к сущности 2»: records of `entity_type` that refer to any
        of `others` (the entity-2 records in memory, freshest first)."""
        ...

    def load_linked_to_participants(
        self, call: RuleCall, entity_type: str, responsible_user_id: str | None = None
    ) -> Sequence[Entity]:
        """«Загрузить сущности, связанные с участниками звонка»: records of `entity_type` linked to the
        call's client number; with `responsible_user_id`, only those whose responsible (OwnerId) is
        that user («…с учетом ответственного»)."""
        ...

    def create_entity(self, call: RuleCall, entity_type: str, key: str) -> Entity:
        """«Создать новую сущность»: a new record of `entity_type` for this call (the client's number,
        the operator as responsible). `key` is stable across retries of the same call: a second
        create with the same call (`call.entry_id`) and key returns the record made by the first."""
        ...

    def bind_to_call(self, call: RuleCall, entity: Entity) -> None:
        """«Привязать к звонку»: link `entity` to the call's record in the CRM (idempotent)."""
        ...

    def bind_card_to_call_and_call_to_all(self, call: RuleCall, entities: Sequence[Entity]) -> None:
        """«Привязать данные карточки к звонку и звонок ко всем»: fill the call card's links with the
        freshest record of each type and link the call to every record in `entities` (idempotent)."""
        ...

    def bind_entity_to_entity2(self, entity: Entity, entity2: Entity) -> None:
        """«Привязать первую сущность ко второй»: write `entity` into the field of `entity2` that refers
        to its type; `ActionRefused` when no such field exists (idempotent)."""
        ...

    def assign_responsible(self, entity: Entity, user_id: str) -> None:
        """«Назначить ответственным»: make `user_id` the responsible (OwnerId) of `entity`."""
        ...
