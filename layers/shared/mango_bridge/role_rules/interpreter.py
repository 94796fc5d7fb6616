"""The interpreter of «Настройка действий в зависимости от роли» (F31), as Mango's guide describes it.

Rows run in ascending order. Row 1 is the master switch: final = yes → the table is off. A row applies
when it is not deactivated and its functional role, direction and condition all hold; a row that does
not apply is passed over. An applying row runs its action, then: «Перейти на другую строку» (and a
variable check that holds) jumps to its row; otherwise final = yes ends the run, and final = no goes
to the row in «Значение» if one is given, else to the next row. Jumps can loop, so the run is cut off
after `MAX_STEPS` visited rows with an error naming the rows that kept repeating.

The records the rules load or create are kept in memory — BPMSoft's «память обработчика», a stack in
which the freshest record of a type is the one «Привязать к звонку», «Назначить ответственным» and
«Открыть сущность» act on. A load pushes what it found so that the first record found is the freshest
(the first one found is the one a call is filed on, F14).

A retried run must take the same path as the attempt it repeats, although that attempt's own writes
are now in the CRM (a contact created at row 15 would be found by row 10's load and send the retry to
row 20). So every read goes through a journal keyed by step and row: a run handed the journal of an
earlier attempt replays its reads, and its writes, keyed the same way, are found done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field

from mango_bridge.role_rules.backend import ACCOUNT, ActionRefused, Entity, RuleCall, RulesBackend
from mango_bridge.role_rules.history import (
    AppliedRow,
    EntityView,
    History,
    RowResult,
    RunStatus,
    ScreenInstruction,
)
from mango_bridge.settings.model import MAX_ROLE_RULES, RoleAction, RoleRule, RoleValue

MAX_STEPS = 5 * MAX_ROLE_RULES
"""Rows visited in one run before it is taken for a loop: five passes over the largest table."""

NO_ENTITIES = "нет найденных сущностей"
AT_LEAST_ONE = "найдена как минимум одна сущность"
CONDITIONS = {NO_ENTITIES: "Нет найденных сущностей", AT_LEAST_ONE: "Найдена как минимум одна сущность"}
"""BPMSoft's fixed conditions that the guide names, by their normalised spelling."""

_PLACEHOLDER = re.compile(r"%(number|номер)%", re.IGNORECASE)


class RuleTableError(ValueError):
    """The table cannot be run as written (a condition nobody knows, a jump to a missing row)."""


def normalise_condition(text: str) -> str:
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").split()).casefold().rstrip(".…")


def substitute(text: str, number: str | None) -> str:
    """`%number%` / `%номер%` → the client's number (empty when the call has none)."""
    return _PLACEHOLDER.sub(lambda _: number or "", text)


@dataclass
class _Outcome:
    result: RowResult
    message: str
    inputs: dict[str, str] = field(default_factory=dict)
    acted_on: list[Entity] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    jump: int | None = None


@dataclass
class _Memory:
    """The records in play, freshest last; a record seen again becomes the freshest."""

    held: list[Entity] = field(default_factory=list)
    created: list[Entity] = field(default_factory=list)

    def push(self, entity: Entity) -> None:
        self.held = [e for e in self.held if (e.type, e.id) != (entity.type, entity.id)]
        self.held.append(entity)

    def push_found(self, found: Sequence[Entity]) -> None:
        for entity in reversed(found):
            self.push(entity)

    def of_type(self, entity_type: str | None) -> list[Entity]:
        """Freshest first."""
        wanted = None if entity_type is None else entity_type.casefold()
        return [e for e in reversed(self.held) if wanted is None or e.type.casefold() == wanted]

    def freshest(self, entity_type: str | None) -> Entity | None:
        matching = self.of_type(entity_type)
        return matching[0] if matching else None


class Interpreter:
    """One run of the table for one call; `run()` returns its history."""

    def __init__(
        self,
        rules: Sequence[RoleRule],
        call: RuleCall,
        backend: RulesBackend,
        *,
        max_steps: int = MAX_STEPS,
        journal: MutableMapping[str, list[Entity]] | None = None,
    ) -> None:
        self.table = sorted(rules, key=lambda rule: rule.order)
        self.journal: MutableMapping[str, list[Entity]] = {} if journal is None else journal
        self.call = call
        self.backend = backend
        self.max_steps = max_steps
        self.memory = _Memory()
        self.variables: dict[str, tuple[str, str]] = {}  # casefolded name → (name as written, value)
        self.created_per_row: dict[int, int] = {}
        self.history = History(
            status="completed",
            entry_id=call.entry_id,
            direction=call.direction,
            roles=sorted(call.roles),
            operator_user_id=call.operator_user_id,
            client_number=call.client_number,
        )
        self._roles = {role.casefold() for role in call.roles}
        self._visited: list[int] = []

    def run(self) -> History:
        try:
            self._run()
        except RuleTableError as problem:
            self._finish("failed", str(problem))
        return self.history

    def _finish(self, status: RunStatus, error: str | None = None) -> None:
        self.history.status = status
        self.history.error = error
        self.history.steps = len(self._visited)
        self.history.variables = dict(self.variables.values())

    def _run(self) -> None:
        if not self.table:
            self._finish("no_rules")
            return
        position = {rule.order: index for index, rule in enumerate(self.table)}
        if 1 not in position:
            raise RuleTableError(
                "row 1 (the master switch) is missing: add it with final = no to run the table"
            )
        switch = self.table[position[1]]
        self._visited.append(1)
        if switch.final:
            self._record(switch, _Outcome("switched_off", "the table is off: row 1 has final = yes"), None)
            self._finish("switched_off")
            return
        after_switch = position[1] + 1
        first = self.table[after_switch].order if after_switch < len(self.table) else None
        self._record(switch, _Outcome("switched_on", "the table is on: row 1 has final = no"), first)
        index = after_switch
        while index < len(self.table):
            rule = self.table[index]
            if len(self._visited) >= self.max_steps:
                raise RuleTableError(self._loop_message())
            self._visited.append(rule.order)
            if not self._applies(rule):
                index += 1
                continue
            outcome = self._execute(rule)
            target = self._next_row(rule, outcome)
            if target is None:
                self._record(rule, outcome, None)
                if rule.final and outcome.result != "not_jumped":
                    self._finish("stopped")
                    return
                break
            if target not in position:
                self._record(rule, outcome, None)
                raise RuleTableError(f"row {rule.order} goes to row {target}, which is not in the table")
            self._record(rule, outcome, target)
            index = position[target]
        self._finish("completed")

    def _next_row(self, rule: RoleRule, outcome: _Outcome) -> int | None:
        """Where the run goes after an applied row; None when it ends (final, or past the last row)."""
        if outcome.jump is not None:
            return outcome.jump
        following = [r.order for r in self.table if r.order > rule.order]
        if outcome.result == "not_jumped":  # a check that fails changes nothing, final included
            return following[0] if following else None
        if rule.final:
            return None
        parsed = rule.parsed_value()
        if parsed is not None and parsed.variable is None and parsed.row is not None:
            return parsed.row
        return following[0] if following else None

    def _loop_message(self) -> str:
        recent = sorted(set(self._visited[-2 * len(self.table) :]))
        rows = ", ".join(str(order) for order in recent)
        return (
            f"the rule table did not finish within {self.max_steps} steps: rows {rows} keep repeating "
            "(a loop of «Перейти на другую строку действий» / variable checks); fix their «Значение» or "
            "set final = yes on the row that should end the run"
        )

    # --- filters -------------------------------------------------------------------------------

    def _applies(self, rule: RoleRule) -> bool:
        if rule.deactivated:
            return False
        if rule.direction != "any" and rule.direction != self.call.direction:
            return False
        if rule.role is not None and rule.role.casefold() not in self._roles:
            return False
        return rule.condition is None or self._condition_holds(rule)

    def _condition_holds(self, rule: RoleRule) -> bool:
        assert rule.condition is not None
        condition = normalise_condition(rule.condition)
        found = bool(self.memory.of_type(rule.entity))
        if condition == NO_ENTITIES:
            return not found
        if condition == AT_LEAST_ONE:
            return found
        known = " or ".join(f"«{name}»" for name in CONDITIONS.values())
        raise RuleTableError(f"row {rule.order}: unknown condition «{rule.condition}»: use {known}")

    # --- actions -------------------------------------------------------------------------------

    def _execute(self, rule: RoleRule) -> _Outcome:
        handler = self._handlers()[rule.action]
        try:
            return handler(rule)
        except ActionRefused as refusal:
            return _Outcome("refused", f"the CRM refused: {refusal}")

    def _handlers(self) -> dict[RoleAction, Callable[[RoleRule], _Outcome]]:
        return {
            RoleAction.LOAD_FROM_CONTEXT: self._load_from_context,
            RoleAction.LOAD_LINKED_TO_ENTITY2: self._load_linked_to_entity2,
            RoleAction.LOAD_LINKED_TO_PARTICIPANTS: self._load_linked_to_participants,
            RoleAction.LOAD_LINKED_TO_PARTICIPANTS_RESPONSIBLE: self._load_linked_to_participants,
            RoleAction.SET_VARIABLE: self._set_variable,
            RoleAction.ASSIGN_RESPONSIBLE: self._assign_responsible,
            RoleAction.DO_NOTHING: lambda rule: _Outcome("done", "nothing to do"),
            RoleAction.CREATE_ENTITY: self._create_entity,
            RoleAction.BIND_TO_CALL: self._bind_to_call,
            RoleAction.BIND_CARD_TO_CALL_AND_CALL_TO_ALL: self._bind_card_and_all,
            RoleAction.BIND_ENTITY_TO_ENTITY2: self._bind_entity_to_entity2,
            RoleAction.CHECK_VARIABLE: self._check_variable,
            RoleAction.GO_TO_ROW: self._go_to_row,
            RoleAction.OPEN_ENTITY: self._open_entity,
            RoleAction.OPEN_ACCOUNT_CARD: self._open_account_card,
            RoleAction.OPEN_LAST_CREATED: self._open_last_created,
            RoleAction.OPEN_AND_CREATE: self._open_and_create,
        }

    def _read(self, rule: RoleRule, fetch: Callable[[], Sequence[Entity]]) -> list[Entity]:
        key = f"{len(self._visited)}:{rule.order}"
        known = self.journal.get(key)
        if known is None:
            known = list(fetch())
            self.journal[key] = known
        return list(known)

    def _loaded(self, what: str, found: Sequence[Entity], inputs: dict[str, str]) -> _Outcome:
        self.memory.push_found(found)
        if not found:
            return _Outcome("nothing", f"no {what} found", inputs)
        return _Outcome("done", f"loaded {len(found)} {what}", inputs, entities=list(found))

    def _load_from_context(self, rule: RoleRule) -> _Outcome:
        found = self._read(rule, lambda: self.backend.load_from_context(self.call, rule.entity))
        return self._loaded(_records(rule.entity) + " from the call's context", found, {})

    def _load_linked_to_entity2(self, rule: RoleRule) -> _Outcome:
        assert rule.entity is not None and rule.entity2 is not None
        others = self.memory.of_type(rule.entity2)
        if not others:
            return _Outcome("nothing", f"no «{rule.entity2}» in memory to load «{rule.entity}» linked to")
        entity = rule.entity
        found = self._read(rule, lambda: self.backend.load_linked_to(entity, others))
        outcome = self._loaded(f"«{rule.entity}» linked to «{rule.entity2}»", found, {})
        outcome.acted_on = others
        return outcome

    def _load_linked_to_participants(self, rule: RoleRule) -> _Outcome:
        assert rule.entity is not None
        number = self.call.client_number
        if not number:
            return _Outcome("nothing", "the call has no client number to look records up by")
        inputs = {"number": number}
        responsible: str | None = None
        if rule.action == RoleAction.LOAD_LINKED_TO_PARTICIPANTS_RESPONSIBLE:
            responsible = self.call.operator_user_id
            if responsible is None:
                return _Outcome(
                    "nothing", "no employee took the call, so nobody can be the responsible", inputs
                )
            inputs["responsible"] = responsible
        entity = rule.entity
        found = self._read(
            rule, lambda: self.backend.load_linked_to_participants(self.call, entity, responsible)
        )
        return self._loaded(f"«{rule.entity}» linked to {number}", found, inputs)

    def _set_variable(self, rule: RoleRule) -> _Outcome:
        value = _value(rule)
        assert value.variable is not None and value.expected is not None
        resolved = substitute(value.expected, self.call.client_number)
        self.variables[value.variable.casefold()] = (value.variable, resolved)
        return _Outcome(
            "done", f"{value.variable} = {resolved}", {"variable": value.variable, "value": resolved}
        )

    def _check_variable(self, rule: RoleRule) -> _Outcome:
        value = _value(rule)
        assert value.variable is not None and value.expected is not None and value.row is not None
        expected = substitute(value.expected, self.call.client_number)
        actual = self.variables.get(value.variable.casefold(), (value.variable, None))[1]
        inputs = {"variable": value.variable, "expected": expected, "actual": actual or ""}
        if actual is not None and actual.casefold() == expected.casefold():
            return _Outcome(
                "jumped", f"{value.variable} = {expected}: go to row {value.row}", inputs, jump=value.row
            )
        shown = "is not set" if actual is None else f"is {actual!r}"
        return _Outcome("not_jumped", f"{value.variable} {shown}, not {expected!r}: no jump", inputs)

    def _go_to_row(self, rule: RoleRule) -> _Outcome:
        row = _value(rule).row
        assert row is not None
        return _Outcome("jumped", f"go to row {row}", jump=row)

    def _create_entity(self, rule: RoleRule) -> _Outcome:
        assert rule.entity is not None
        count = self.created_per_row.get(rule.order, 0) + 1
        self.created_per_row[rule.order] = count
        key = f"row{rule.order}#{count}"
        entity = self.backend.create_entity(self.call, rule.entity, key)
        self.memory.push(entity)
        self.memory.created.append(entity)
        return _Outcome("done", f"created «{entity.type}» {entity.id}", {"key": key}, entities=[entity])

    def _bind_to_call(self, rule: RoleRule) -> _Outcome:
        entity = self.memory.freshest(rule.entity)
        if entity is None:
            return _Outcome("nothing", f"no «{rule.entity}» in memory to bind to the call")
        self.backend.bind_to_call(self.call, entity)
        return _Outcome("done", f"bound «{entity.type}» {entity.id} to the call", acted_on=[entity])

    def _bind_card_and_all(self, rule: RoleRule) -> _Outcome:
        entities = self.memory.of_type(None)
        if not entities:
            return _Outcome("nothing", "no records in memory to bind the call to")
        self.backend.bind_card_to_call_and_call_to_all(self.call, entities)
        return _Outcome("done", f"bound the call to {len(entities)} record(s)", acted_on=entities)

    def _bind_entity_to_entity2(self, rule: RoleRule) -> _Outcome:
        entity = self.memory.freshest(rule.entity)
        entity2 = self.memory.freshest(rule.entity2)
        if entity is None or entity2 is None:
            missing = rule.entity if entity is None else rule.entity2
            return _Outcome("nothing", f"no «{missing}» in memory to bind")
        self.backend.bind_entity_to_entity2(entity, entity2)
        return _Outcome(
            "done",
            f"bound «{entity.type}» {entity.id} to «{entity2.type}» {entity2.id}",
            acted_on=[entity, entity2],
        )

    def _assign_responsible(self, rule: RoleRule) -> _Outcome:
        entity = self.memory.freshest(rule.entity)
        if entity is None:
            return _Outcome("nothing", f"no «{rule.entity}» in memory to assign")
        user = self.call.operator_user_id
        if user is None:
            return _Outcome("nothing", "no employee took the call, so nobody can be made responsible")
        self.backend.assign_responsible(entity, user)
        return _Outcome(
            "done", f"{user} is now responsible for «{entity.type}» {entity.id}", {"user": user}, [entity]
        )

    # --- instructions for the agent's screen ---------------------------------------------------

    def _open(self, rule: RoleRule, entity: Entity | None, missing: str) -> _Outcome:
        if entity is None:
            return _Outcome("nothing", missing)
        self.history.screen.append(
            ScreenInstruction(
                order=rule.order,
                action=rule.action,
                open="record",
                entity_type=entity.type,
                entity_id=entity.id,
                name=entity.name,
            )
        )
        return _Outcome("instruction", f"open «{entity.type}» {entity.id}", acted_on=[entity])

    def _open_entity(self, rule: RoleRule) -> _Outcome:
        # The guide: entity «Контакт», entity 2 «Контрагент», «Открыть сущность» → the accounts open.
        wanted = rule.entity2 or rule.entity
        return self._open(rule, self.memory.freshest(wanted), f"no «{wanted}» in memory to open")

    def _open_account_card(self, rule: RoleRule) -> _Outcome:
        return self._open(rule, self.memory.freshest(ACCOUNT), f"no «{ACCOUNT}» linked to the call in memory")

    def _open_last_created(self, rule: RoleRule) -> _Outcome:
        wanted = None if rule.entity is None else rule.entity.casefold()
        created = [e for e in self.memory.created if wanted is None or e.type.casefold() == wanted]
        entity = created[-1] if created else self.memory.freshest(rule.entity)
        return self._open(rule, entity, f"no {_records(rule.entity)} in memory to open")

    def _open_and_create(self, rule: RoleRule) -> _Outcome:
        if rule.entity is None:
            return _Outcome("nothing", "«Открыть и создать» needs the entity whose new card to open")
        self.history.screen.append(
            ScreenInstruction(
                order=rule.order,
                action=rule.action,
                open="new_record",
                entity_type=rule.entity,
                number=self.call.client_number,
            )
        )
        return _Outcome("instruction", f"open a new «{rule.entity}» card")

    # --- history -------------------------------------------------------------------------------

    def _record(self, rule: RoleRule, outcome: _Outcome, next_row: int | None) -> None:
        self.history.rows.append(
            AppliedRow(
                step=len(self._visited),
                order=rule.order,
                role=rule.role,
                direction=rule.direction,
                condition=rule.condition,
                entity=rule.entity,
                entity2=rule.entity2,
                action=rule.action,
                value=rule.value,
                final=rule.final,
                inputs=outcome.inputs,
                acted_on=[EntityView.of(e) for e in outcome.acted_on],
                entities=[EntityView.of(e) for e in outcome.entities],
                result=outcome.result,
                next_row=next_row,
                message=outcome.message,
            )
        )


def _value(rule: RoleRule) -> RoleValue:
    parsed = rule.parsed_value()
    assert parsed is not None, "RoleRule validation guarantees a value for go-to and variable actions"
    return parsed


def _records(entity_type: str | None) -> str:
    return "records" if entity_type is None else f"«{entity_type}»"


def interpret(
    rules: Sequence[RoleRule],
    call: RuleCall,
    backend: RulesBackend,
    *,
    max_steps: int = MAX_STEPS,
    journal: MutableMapping[str, list[Entity]] | None = None,
) -> History:
    """Run the rule table for one call through `backend`; the history tells what each applied row did.

    CRM errors (`mango_bridge.crm.errors`) propagate so the workflow retries the run. Pass the same
    `journal` (a mapping the caller persists per call) to the retry: it replays the reads and finds the
    writes done, since they carry stable keys.
    """
    return Interpreter(rules, call, backend, max_steps=max_steps, journal=journal).run()


__all__ = ["MAX_STEPS", "Interpreter", "RuleTableError", "interpret", "substitute"]
