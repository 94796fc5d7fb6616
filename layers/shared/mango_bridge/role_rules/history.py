"""The history of the role rules applied to one call — what BPMSoft shows as «Действия звонка».

One row per applied rule, in the order they ran (row 1, the master switch, always first), with what
the action was given, what it did and where the run went next; plus the instructions for the agent's
screen the «Открыть …» actions produced. Stored on the call as JSON (`store/action_history.py`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mango_bridge.role_rules.backend import Entity
from mango_bridge.settings.model import ROLE_ACTION_LABELS, RoleAction

RowResult = Literal[
    "switched_on",  # row 1 with final = no: the table runs
    "switched_off",  # row 1 with final = yes: the table is off
    "done",  # the action did what it says
    "nothing",  # the action had nothing to work on (named in the message)
    "refused",  # the CRM cannot do it with these records (named in the message)
    "jumped",  # go to row / a variable check that held
    "not_jumped",  # a variable check that did not hold
    "instruction",  # an «Открыть …» action: recorded for the agent's screen
]
RunStatus = Literal[
    "no_rules",  # the table is empty
    "not_applicable",  # not a call with a client (internal)
    "switched_off",  # row 1 says final = yes
    "completed",  # ran past the last row
    "stopped",  # a row with final = yes ended the run
    "failed",  # a loop hit the step limit or the table cannot be read (see `error`)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityView(_Model):
    type: str
    id: str
    name: str = ""

    @classmethod
    def of(cls, entity: Entity) -> EntityView:
        return cls(type=entity.type, id=entity.id, name=entity.name)


class AppliedRow(_Model):
    """One applied rule, with its table columns as they were when it ran."""

    step: int = Field(description="How many rows the run had visited when it reached this one")
    order: int
    role: str | None = None
    direction: str = "any"
    condition: str | None = None
    entity: str | None = None
    entity2: str | None = None
    action: RoleAction
    value: str | None = None
    final: bool = False
    inputs: dict[str, str] = Field(
        default_factory=dict, description="What the action was given: variable values, the number searched…"
    )
    acted_on: list[EntityView] = Field(
        default_factory=list, description="Records the action bound, assigned or opened"
    )
    entities: list[EntityView] = Field(default_factory=list, description="Records it loaded or created")
    result: RowResult
    next_row: int | None = Field(default=None, description="The row run next; none when the run ended here")
    message: str

    @property
    def action_label(self) -> str:
        return ROLE_ACTION_LABELS[self.action.value]


class ScreenInstruction(_Model):
    """What an «Открыть …» row asks the agent's screen to show."""

    order: int
    action: RoleAction
    open: Literal["record", "new_record"]
    entity_type: str | None = None
    entity_id: str | None = None
    name: str = ""
    number: str | None = Field(default=None, description="The client's number, to prefill a new record")


class History(_Model):
    status: RunStatus
    entry_id: str
    direction: str
    roles: list[str] = Field(default_factory=list, description="The operator's functional roles")
    operator_user_id: str | None = None
    client_number: str | None = None
    rows: list[AppliedRow] = Field(default_factory=list)
    screen: list[ScreenInstruction] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    steps: int = 0
    error: str | None = None

    def created(self) -> list[EntityView]:
        """Records the rules created in the CRM for this call, in the order they were made."""
        return [e for row in self.rows if row.action == RoleAction.CREATE_ENTITY for e in row.entities]
