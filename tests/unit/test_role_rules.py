"""The role-rule table (F31) against a small in-memory CRM: what the CRM ends up holding, what the
agent's screen is told to open, and what «Действия звонка» records, for the guide's examples."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from mango_bridge.calls.model import CallAggregate, Leg, PartyView
from mango_bridge.crm.errors import CrmUnavailable
from mango_bridge.role_rules import (
    ActionRefused,
    Entity,
    History,
    RuleCall,
    RulesBackend,
    interpret,
    run_role_rules,
)
from mango_bridge.role_rules.report import NO_DATA, ONLY_ROW_ONE, action_report
from mango_bridge.settings.model import RoleRule, TenantSettings

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "+79161234567"
STRANGER = "+79990000000"
ANNA, SERGEY = "u-anna", "u-sergey"
CONTACT, ACCOUNT, CASE, LEAD = "Контакт", "Контрагент", "Обращение", "Лид"

LINKABLE = {CASE: {CONTACT, ACCOUNT}, LEAD: {CONTACT, ACCOUNT}, CONTACT: {ACCOUNT}}
"""Which entity-1 types a record of entity-2 type has a column for (Case.ContactId, Contact.AccountId…)."""


@dataclass
class Record:
    type: str
    id: str
    name: str = ""
    phone: str | None = None
    owner: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def entity(self) -> Entity:
        return Entity(type=self.type, id=self.id, name=self.name, owner_id=self.owner)


@dataclass
class World:
    """An in-memory CRM implementing RulesBackend, as simple as a CRM can be and no simpler."""

    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    context: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    call_links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    call_card: dict[str, dict[str, str]] = field(default_factory=dict)
    created_by_key: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    writes: int = 0
    outage: bool = False
    binds_fail: int = 0

    def add(self, type_: str, id_: str, **fields: Any) -> Record:
        record = Record(type_, id_, **fields)
        self.records[(type_, id_)] = record
        return record

    def of(self, type_: str) -> list[Record]:
        return [r for r in self.records.values() if r.type == type_]

    def bound(self, entry_id: str) -> list[tuple[str, str]]:
        return self.call_links.get(entry_id, [])

    # RulesBackend ------------------------------------------------------------------------------

    def functional_roles(self, user_id: str) -> Sequence[str]:
        return self.roles.get(user_id, [])

    def load_from_context(self, call: RuleCall, entity_type: str | None) -> Sequence[Entity]:
        keys = self.context.get(call.entry_id, [])
        return [self.records[k].entity() for k in keys if entity_type is None or k[0] == entity_type]

    def load_linked_to(self, entity_type: str, others: Sequence[Entity]) -> Sequence[Entity]:
        wanted = {(o.type, o.id) for o in others}
        return [r.entity() for r in self.of(entity_type) if any(item in wanted for item in r.links.items())]

    def load_linked_to_participants(
        self, call: RuleCall, entity_type: str, responsible_user_id: str | None = None
    ) -> Sequence[Entity]:
        if self.outage:
            raise CrmUnavailable("BPMSoft answered 503")
        by_phone = {(r.type, r.id) for r in self.records.values() if r.phone == call.client_number}
        found = [
            r
            for r in self.of(entity_type)
            if (r.type, r.id) in by_phone or any(item in by_phone for item in r.links.items())
        ]
        if responsible_user_id is not None:
            found = [r for r in found if r.owner == responsible_user_id]
        return [r.entity() for r in found]

    def create_entity(self, call: RuleCall, entity_type: str, key: str) -> Entity:
        existing = self.created_by_key.get((call.entry_id, key))
        if existing:
            return self.records[existing].entity()
        self.writes += 1
        record = self.add(
            entity_type,
            f"{entity_type}-{len(self.of(entity_type)) + 1}",
            name=f"{entity_type} {call.client_number}",
            phone=call.client_number if entity_type in (CONTACT, LEAD) else None,
            owner=call.operator_user_id,
        )
        self.created_by_key[(call.entry_id, key)] = (record.type, record.id)
        return record.entity()

    def bind_to_call(self, call: RuleCall, entity: Entity) -> None:
        if self.binds_fail:
            self.binds_fail -= 1
            raise CrmUnavailable("BPMSoft timed out")
        links = self.call_links.setdefault(call.entry_id, [])
        if (entity.type, entity.id) not in links:
            self.writes += 1
            links.append((entity.type, entity.id))

    def bind_card_to_call_and_call_to_all(self, call: RuleCall, entities: Sequence[Entity]) -> None:
        card = self.call_card.setdefault(call.entry_id, {})
        for entity in entities:
            card.setdefault(entity.type, entity.id)
            self.bind_to_call(call, entity)

    def bind_entity_to_entity2(self, entity: Entity, entity2: Entity) -> None:
        if entity.type not in LINKABLE.get(entity2.type, set()):
            raise ActionRefused(f"«{entity2.type}» has no column for «{entity.type}»")
        self.writes += 1
        self.records[(entity2.type, entity2.id)].links[entity.type] = entity.id

    def assign_responsible(self, entity: Entity, user_id: str) -> None:
        self.writes += 1
        self.records[(entity.type, entity.id)].owner = user_id


def rules(*rows: dict[str, Any]) -> list[RoleRule]:
    return [RoleRule.model_validate(row) for row in ({"order": 1, "final": False}, *rows)]


def call(
    direction: str = "incoming",
    number: str | None = CLIENT,
    operator: str | None = ANNA,
    roles: tuple[str, ...] = (),
    entry_id: str = "E1",
) -> RuleCall:
    return RuleCall(
        entry_id=entry_id,
        direction=direction,  # type: ignore[arg-type]
        client_number=number,
        operator_user_id=operator,
        roles=frozenset(roles),
    )


def orders(history: History) -> list[int]:
    return [row.order for row in history.rows]


@pytest.fixture
def world() -> World:
    w = World()
    w.add(ACCOUNT, "acc-1", name="ООО Ромашка")
    w.add(CONTACT, "c-1", name="Иван Петров", phone=CLIENT, owner=SERGEY, links={ACCOUNT: "acc-1"})
    w.roles = {ANNA: ["Маркетинг"], SERGEY: ["Продажи", "Бухгалтерия"]}
    return w


# The guide's example: an incoming call to marketing → load the call's contacts → if one is found,
# create a case, bind the contact to the call and to the case → open the case.
MARKETING = rules(
    {
        "order": 2,
        "role": "Маркетинг",
        "direction": "incoming",
        "entity": CONTACT,
        "action": "load_linked_to_participants",
    },
    {"order": 3, "condition": "Нет найденных сущностей", "entity": CONTACT, "final": True},
    {"order": 4, "entity": CASE, "action": "create_entity"},
    {
        "order": 5,
        "condition": "Найдена как минимум одна сущность",
        "entity": CONTACT,
        "action": "bind_to_call",
    },
    {
        "order": 6,
        "condition": "Найдена как минимум одна сущность",
        "entity": CONTACT,
        "entity2": CASE,
        "action": "bind_entity_to_entity2",
    },
    {"order": 7, "entity": CASE, "action": "open_entity", "final": True},
)


def test_incoming_call_to_marketing_creates_a_case_bound_to_the_contact_and_opens_it(world: World) -> None:
    history = interpret(MARKETING, call(roles=("Маркетинг",)), world, max_steps=50)

    [case] = world.of(CASE)
    assert case.links == {CONTACT: "c-1"}
    assert case.owner == ANNA  # made by the operator who took the call
    assert world.bound("E1") == [(CONTACT, "c-1")]
    assert [(i.open, i.entity_type, i.entity_id) for i in history.screen] == [("record", CASE, case.id)]
    assert history.status == "stopped"
    assert orders(history) == [1, 2, 4, 5, 6, 7]  # row 3 («no contact») did not apply
    assert [row.result for row in history.rows] == [
        "switched_on",
        "done",
        "done",
        "done",
        "done",
        "instruction",
    ]
    assert history.rows[1].entities[0].id == "c-1"
    assert history.rows[1].inputs == {"number": CLIENT}
    assert history.created()[0].id == case.id


def test_a_call_taken_by_another_role_does_not_touch_the_crm(world: World) -> None:
    history = interpret(MARKETING, call(operator=SERGEY, roles=("Продажи",)), world)

    assert world.of(CASE) == [] and world.bound("E1") == []
    assert orders(history) == [1, 3]  # row 2 is for marketing; nothing loaded, so «no contact» stops
    assert history.status == "stopped"


def test_a_new_number_finds_no_contact_and_nothing_is_created(world: World) -> None:
    history = interpret(MARKETING, call(number=STRANGER, roles=("маркетинг",)), world)

    assert world.of(CASE) == []
    assert orders(history) == [1, 2, 3]
    assert history.rows[1].result == "nothing"


def test_outgoing_calls_skip_incoming_rows(world: World) -> None:
    history = interpret(MARKETING, call(direction="outgoing", roles=("Маркетинг",)), world)
    assert world.of(CASE) == []
    assert orders(history) == [1, 3]


def test_row_one_with_final_yes_switches_the_table_off(world: World) -> None:
    table = [RoleRule(order=1, final=True), *MARKETING[1:]]
    history = interpret(table, call(roles=("Маркетинг",)), world)

    assert world.writes == 0 and world.of(CASE) == []
    assert history.status == "switched_off"
    assert orders(history) == [1]
    report = action_report(history, shown=True)
    assert report["message"] == ONLY_ROW_ONE
    assert [row["order"] for row in report["rows"]] == [1]


def test_deactivated_rows_are_passed_over(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CONTACT, "action": "load_linked_to_participants"},
        {"order": 3, "deactivated": True, "entity": CASE, "action": "create_entity"},
        {"order": 4, "entity": CONTACT, "action": "bind_to_call"},
    )
    history = interpret(table, call(), world)
    assert world.of(CASE) == []
    assert world.bound("E1") == [(CONTACT, "c-1")]
    assert orders(history) == [1, 2, 4]
    assert history.status == "completed"


# The guide's go-to table: incoming → row 10, outgoing → row 40; row 4 stops everything else.
EXAMPLE = json.loads((ROOT / "docs/examples/role-rules-test.json").read_text(encoding="utf-8"))


def test_the_test_rules_example_is_a_valid_bpmsoft_settings_document() -> None:
    settings = TenantSettings.model_validate(EXAMPLE)
    assert settings.crm is not None and settings.crm.kind == "bpmsoft"
    assert settings.role_table_enabled
    first = [(r.order, r.direction, r.action.value, r.value) for r in settings.ordered_role_rules()[:4]]
    assert first == [
        (1, "any", "do_nothing", None),
        (2, "incoming", "go_to_row", "10"),
        (3, "outgoing", "go_to_row", "40"),
        (4, "any", "do_nothing", None),
    ]


def test_test_rules_known_caller_gets_a_case_bound_to_contact_and_call(world: World) -> None:
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    history = interpret(table, call(), world)

    [case] = world.of(CASE)
    assert case.links == {CONTACT: "c-1"}
    assert world.bound("E1") == [(CONTACT, "c-1"), (CASE, case.id)]
    assert orders(history) == [1, 2, 10, 12, 20, 21, 22, 23, 24]
    assert history.rows[1].next_row == 10
    assert history.screen[-1].entity_id == case.id


def test_test_rules_unknown_caller_gets_a_new_contact(world: World) -> None:
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    history = interpret(table, call(number=STRANGER), world)

    new = [c for c in world.of(CONTACT) if c.phone == STRANGER]
    assert len(new) == 1 and world.of(CASE) == []
    assert world.bound("E1") == [(CONTACT, new[0].id)]
    assert orders(history) == [1, 2, 10, 11, 15, 16, 17]


def test_test_rules_outgoing_call_binds_the_contact_it_was_dialled_from(world: World) -> None:
    world.add(CONTACT, "c-2", name="Ольга", phone="+79035550000")
    world.context["E1"] = [(CONTACT, "c-2")]
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    history = interpret(table, call(direction="outgoing"), world)

    assert world.bound("E1") == [(CONTACT, "c-2")]
    assert orders(history) == [1, 3, 40, 42, 43]  # 41 («no contact») does not apply


def test_outgoing_without_context_loads_only_contacts_the_operator_is_responsible_for(world: World) -> None:
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    history = interpret(table, call(direction="outgoing", operator=ANNA), world)
    assert world.bound("E1") == []  # Иван belongs to Sergey
    assert history.rows[3].order == 41 and history.rows[3].result == "nothing"

    history = interpret(table, call(direction="outgoing", operator=SERGEY, entry_id="E2"), world)
    assert world.bound("E2") == [(CONTACT, "c-1")]
    assert history.rows[3].inputs == {"number": CLIENT, "responsible": SERGEY}


# Variables --------------------------------------------------------------------------------------

NO_LEAD_FOR_ACCOUNTING = rules(
    {"order": 2, "role": "Бухгалтерия", "action": "set_variable", "value": '"НеСоздаватьЛид=Да"'},
    {"order": 3, "action": "check_variable", "value": '"НеСоздаватьЛид=Да;5"'},
    {"order": 4, "entity": LEAD, "action": "create_entity"},
    {"order": 5, "entity": CONTACT, "action": "load_linked_to_participants"},
)


def test_a_variable_set_for_one_role_skips_the_lead(world: World) -> None:
    history = interpret(NO_LEAD_FOR_ACCOUNTING, call(operator=SERGEY, roles=("Бухгалтерия",)), world)
    assert world.of(LEAD) == []
    assert orders(history) == [1, 2, 3, 5]
    assert history.variables == {"НеСоздаватьЛид": "Да"}
    check = history.rows[2]
    assert (check.result, check.next_row) == ("jumped", 5)
    assert check.inputs == {"variable": "НеСоздаватьЛид", "expected": "Да", "actual": "Да"}


def test_an_unset_variable_does_not_jump_and_the_lead_is_created(world: World) -> None:
    history = interpret(NO_LEAD_FOR_ACCOUNTING, call(roles=("Маркетинг",)), world)
    assert len(world.of(LEAD)) == 1
    assert orders(history) == [1, 3, 4, 5]
    assert history.rows[1].result == "not_jumped"
    assert "is not set" in history.rows[1].message


def test_a_failed_check_on_a_final_row_does_not_stop_the_run(world: World) -> None:
    table = rules(
        {"order": 2, "action": "check_variable", "value": "X=1;4", "final": True},
        {"order": 3, "entity": LEAD, "action": "create_entity"},
        {"order": 4, "action": "do_nothing"},
    )
    history = interpret(table, call(), world)
    assert len(world.of(LEAD)) == 1 and orders(history) == [1, 2, 3, 4]


@pytest.mark.parametrize("placeholder", ["%number%", "%номер%", "%NUMBER%"])
def test_number_placeholder_is_the_clients_number(world: World, placeholder: str) -> None:
    table = rules(
        {"order": 2, "action": "set_variable", "value": f'"Звонящий={placeholder}"'},
        {"order": 3, "action": "check_variable", "value": f'"Звонящий={CLIENT};5"'},
        {"order": 4, "entity": LEAD, "action": "create_entity"},
        {"order": 5, "action": "check_variable", "value": '"Звонящий=%номер%;7"'},
        {"order": 6, "entity": LEAD, "action": "create_entity"},
        {"order": 7, "action": "do_nothing"},
    )
    history = interpret(table, call(), world)
    assert history.variables == {"Звонящий": CLIENT}
    assert orders(history) == [1, 2, 3, 5, 7]
    assert world.of(LEAD) == []


def test_a_variable_compared_with_another_value_does_not_hold(world: World) -> None:
    table = rules(
        {"order": 2, "action": "set_variable", "value": "Статус=Новый"},
        {"order": 3, "action": "check_variable", "value": "Статус=VIP;5"},
        {"order": 4, "entity": LEAD, "action": "create_entity"},
        {"order": 5, "action": "do_nothing"},
    )
    history = interpret(table, call(), world)
    assert len(world.of(LEAD)) == 1
    assert "is 'Новый', not 'VIP'" in history.rows[2].message


# Flow: value rows, final, loops -----------------------------------------------------------------


def test_a_row_number_in_value_goes_there_after_the_action(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CASE, "action": "create_entity", "value": "4"},
        {"order": 3, "entity": LEAD, "action": "create_entity"},
        {"order": 4, "entity": CASE, "action": "bind_to_call"},
    )
    history = interpret(table, call(), world)
    assert world.of(LEAD) == [] and len(world.of(CASE)) == 1
    assert orders(history) == [1, 2, 4]


def test_final_yes_ends_the_run_even_with_a_row_in_value(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CASE, "action": "create_entity", "value": "3", "final": True},
        {"order": 3, "entity": LEAD, "action": "create_entity"},
    )
    history = interpret(table, call(), world)
    assert world.of(LEAD) == [] and history.status == "stopped"
    assert history.rows[-1].next_row is None


def test_go_to_row_jumps_even_when_final(world: World) -> None:
    table = rules(
        {"order": 2, "action": "go_to_row", "value": "4", "final": True},
        {"order": 3, "entity": LEAD, "action": "create_entity"},
        {"order": 4, "entity": CASE, "action": "create_entity"},
    )
    history = interpret(table, call(), world)
    assert world.of(LEAD) == [] and len(world.of(CASE)) == 1
    assert orders(history) == [1, 2, 4]


def test_a_go_to_loop_is_stopped_by_the_step_limit_with_a_clear_error(world: World) -> None:
    table = rules(
        {"order": 10, "entity": CASE, "action": "create_entity"},
        {"order": 11, "action": "go_to_row", "value": "20"},
        {"order": 20, "action": "go_to_row", "value": "10"},
    )
    history = interpret(table, call(), world, max_steps=30)
    assert history.status == "failed"
    assert history.steps == 30
    assert "did not finish within 30 steps" in (history.error or "")
    assert "rows 10, 11, 20 keep repeating" in (history.error or "")
    assert len(world.of(CASE)) == 10  # the limit bounds the harm: one case per pass, not forever
    assert len(history.rows) == 30  # every visited row applied and is in the history


def test_the_default_step_limit_stops_a_variable_loop(world: World) -> None:
    table = rules(
        {"order": 2, "action": "set_variable", "value": "A=1"},
        {"order": 3, "action": "check_variable", "value": "A=1;2"},
    )
    history = interpret(table, call(), world)
    assert history.status == "failed" and history.steps == 200
    assert "rows 2, 3" in (history.error or "")


def test_a_loop_with_an_exit_finishes(world: World) -> None:
    table = rules(
        {"order": 2, "action": "check_variable", "value": "Готово=Да;6"},
        {"order": 3, "entity": LEAD, "action": "create_entity"},
        {"order": 4, "action": "set_variable", "value": "Готово=Да"},
        {"order": 5, "action": "go_to_row", "value": "2"},
        {"order": 6, "action": "do_nothing"},
    )
    history = interpret(table, call(), world)
    assert history.status == "completed"
    assert orders(history) == [1, 2, 3, 4, 5, 2, 6]
    assert len(world.of(LEAD)) == 1


def test_an_unknown_condition_is_refused_when_saved_and_fails_a_run_naming_the_row(world: World) -> None:
    row = {"order": 5, "condition": "Найдено ровно две", "entity": CONTACT, "action": "do_nothing"}
    with pytest.raises(ValueError, match="unknown condition"):
        RoleRule.model_validate(row)
    assert RoleRule.model_validate({**row, "condition": "найдена  как минимум одна сущность."})
    stale = RoleRule.model_validate({**row, "condition": None}).model_copy(
        update={"condition": "Найдено ровно две"}  # saved by an older version, before the check
    )
    table = [*rules(), stale]
    history = interpret(table, call(), world)
    assert history.status == "failed"
    assert "row 5: unknown condition «Найдено ровно две»" in (history.error or "")


def test_a_missing_master_switch_is_named() -> None:
    history = interpret([RoleRule(order=2, action="do_nothing")], call(), World())
    assert history.status == "failed" and "row 1" in (history.error or "")


# Every data action ------------------------------------------------------------------------------


def test_load_linked_to_entity2_and_bind_card_and_call_to_all(world: World) -> None:
    world.add(CONTACT, "c-3", name="Бухгалтер Ромашки", phone="+79035551111", links={ACCOUNT: "acc-1"})
    table = rules(
        {"order": 2, "entity": ACCOUNT, "action": "load_from_context"},
        {"order": 3, "entity": CONTACT, "entity2": ACCOUNT, "action": "load_linked_to_entity2"},
        {"order": 4, "action": "bind_card_to_call_and_call_to_all"},
    )
    world.context["E1"] = [(ACCOUNT, "acc-1")]
    history = interpret(table, call(direction="outgoing"), world)

    assert sorted(world.bound("E1")) == sorted([(ACCOUNT, "acc-1"), (CONTACT, "c-1"), (CONTACT, "c-3")])
    assert world.call_card["E1"][CONTACT] == "c-1"  # the first found is the freshest (F14)
    assert {e.id for e in history.rows[2].entities} == {"c-1", "c-3"}


def test_load_linked_to_entity2_without_entity2_in_memory_does_nothing(world: World) -> None:
    table = rules({"order": 2, "entity": CONTACT, "entity2": ACCOUNT, "action": "load_linked_to_entity2"})
    history = interpret(table, call(), world)
    assert history.rows[1].result == "nothing"
    assert "no «Контрагент» in memory" in history.rows[1].message


def test_assign_responsible_makes_the_operator_responsible(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CONTACT, "action": "load_linked_to_participants"},
        {"order": 3, "entity": CONTACT, "action": "assign_responsible"},
    )
    interpret(table, call(operator=ANNA), world)
    assert world.records[(CONTACT, "c-1")].owner == ANNA


def test_a_refused_action_is_recorded_and_the_run_goes_on(world: World) -> None:
    table = rules(
        {"order": 2, "entity": LEAD, "action": "create_entity"},
        {"order": 3, "entity": CONTACT, "action": "create_entity"},
        {"order": 4, "entity": LEAD, "entity2": CONTACT, "action": "bind_entity_to_entity2"},
        {"order": 5, "entity": CONTACT, "action": "bind_to_call"},
    )
    history = interpret(table, call(number=STRANGER), world)
    refused = history.rows[3]
    assert refused.result == "refused"
    assert "«Контакт» has no column for «Лид»" in refused.message
    assert history.status == "completed" and len(world.bound("E1")) == 1


def test_a_crm_outage_propagates_for_the_workflow_to_retry_and_a_rerun_repeats_no_write(
    world: World,
) -> None:
    table = rules(
        {"order": 2, "entity": CASE, "action": "create_entity"},
        {"order": 3, "entity": CONTACT, "action": "load_linked_to_participants"},
        {"order": 4, "entity": CASE, "action": "bind_to_call"},
    )
    world.outage = True
    with pytest.raises(CrmUnavailable):
        interpret(table, call(), world)
    world.outage = False
    interpret(table, call(), world)
    assert len(world.of(CASE)) == 1
    assert world.bound("E1") == [(CASE, "Обращение-1")]


def test_ui_actions_are_instructions_for_the_screen_and_write_nothing(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CONTACT, "action": "load_linked_to_participants"},
        {"order": 3, "entity": CONTACT, "entity2": ACCOUNT, "action": "load_linked_to_participants"},
        {"order": 4, "entity": ACCOUNT, "action": "load_from_context"},
        {"order": 5, "action": "open_account_card"},
        {"order": 6, "action": "open_last_created"},
        {"order": 7, "entity": LEAD, "action": "open_and_create"},
        {"order": 8, "entity": CONTACT, "entity2": ACCOUNT, "action": "open_entity"},
        {"order": 9, "entity": CONTACT, "action": "open_entity"},
    )
    world.context["E1"] = [(ACCOUNT, "acc-1")]
    history = interpret(table, call(), world)
    assert world.writes == 0
    screen = [(i.order, i.open, i.entity_type, i.entity_id) for i in history.screen]
    assert screen == [
        (5, "record", ACCOUNT, "acc-1"),
        (6, "record", ACCOUNT, "acc-1"),  # nothing created: the freshest record in memory
        (7, "new_record", LEAD, None),
        (8, "record", ACCOUNT, "acc-1"),  # with entity 2, «Открыть сущность» opens the account
        (9, "record", CONTACT, "c-1"),
    ]
    assert history.screen[2].number == CLIENT


def test_open_last_created_opens_the_record_the_rules_made(world: World) -> None:
    table = rules(
        {"order": 2, "entity": CASE, "action": "create_entity"},
        {"order": 3, "entity": CONTACT, "action": "load_linked_to_participants"},
        {"order": 4, "action": "open_last_created"},
    )
    history = interpret(table, call(), world)
    assert (history.screen[0].entity_type, history.screen[0].entity_id) == (CASE, "Обращение-1")


def test_open_actions_with_nothing_to_open_say_so(world: World) -> None:
    table = rules({"order": 2, "action": "open_account_card"}, {"order": 3, "action": "open_last_created"})
    history = interpret(table, call(number=STRANGER), world)
    assert history.screen == []
    assert [row.result for row in history.rows[1:]] == ["nothing", "nothing"]


# The runner on a real call aggregate -------------------------------------------------------------


def aggregate(direction: str = "incoming", talked: tuple[str, ...] = ("101",), **extra: Any) -> CallAggregate:
    client = PartyView(number=CLIENT.lstrip("+"), e164=CLIENT)
    employee = PartyView(extension=talked[0] if talked else None)
    return CallAggregate(
        entry_id="E-real",
        status="completed",
        direction=direction,  # type: ignore[arg-type]
        answered=bool(talked),
        started_at=1_700_000_000,
        ended_at=1_700_000_100,
        talk_seconds=60 if talked else 0,
        caller=client if direction == "incoming" else employee,
        callee=employee if direction == "incoming" else client,
        line_number="74951234567",
        talked_extensions=list(talked),
        legs=extra.pop("legs", []),
        recordings=[],
        dtmf=[],
        timeline=[],
        event_count=4,
        **extra,
    )


def settings(**extra: Any) -> TenantSettings:
    return TenantSettings.model_validate(
        {
            **EXAMPLE,
            "employees": [
                {"extension": "101", "crm_user_id": ANNA},
                {"extension": "102", "crm_user_id": SERGEY},
                {"extension": "150", "crm_user_id": "u-stock", "ignore_calls": True},
            ],
            "role_rules": [r.model_dump(mode="json") for r in MARKETING],
            **extra,
        }
    )


def test_runner_takes_the_operators_roles_from_the_backend(world: World) -> None:
    history = run_role_rules(aggregate(), settings(), world)
    assert history.operator_user_id == ANNA and history.roles == ["Маркетинг"]
    assert history.client_number == CLIENT
    assert len(world.of(CASE)) == 1 and world.of(CASE)[0].owner == ANNA


def test_runner_uses_the_given_role(world: World) -> None:
    history = run_role_rules(aggregate(), settings(), world, "Продажи")
    assert world.of(CASE) == [] and history.roles == ["Продажи"]


def test_runner_picks_the_first_employee_rang_for_a_missed_call(world: World) -> None:
    legs = [
        Leg(call_id="a", extension="150", state="Disconnected", answered=False, appeared_at=1, last_seq=1),
        Leg(call_id="b", extension="102", state="Disconnected", answered=False, appeared_at=2, last_seq=2),
    ]
    history = run_role_rules(aggregate(talked=(), legs=legs), settings(), world)
    assert history.operator_user_id == SERGEY  # 150 is ignored


def test_runner_uses_the_dialling_employee_of_an_outgoing_call(world: World) -> None:
    history = run_role_rules(aggregate("outgoing", talked=("102",)), settings(), world, ())
    assert history.operator_user_id == SERGEY and history.direction == "outgoing"
    assert history.client_number == CLIENT


def test_runner_skips_internal_calls_and_empty_tables(world: World) -> None:
    internal = run_role_rules(aggregate("internal"), settings(), world)
    assert internal.status == "not_applicable"
    empty = run_role_rules(aggregate(), settings(role_rules=[]), world)
    assert empty.status == "no_rules"
    assert action_report(empty, shown=True)["message"] == NO_DATA
    assert world.writes == 0


# The report ---------------------------------------------------------------------------------------


def test_report_lists_the_applied_rows_with_the_guides_columns(world: World) -> None:
    history = interpret(MARKETING, call(roles=("Маркетинг",)), world)
    report = action_report(History.model_validate_json(history.model_dump_json()), shown=True)
    assert report["message"] is None
    row = report["rows"][1]
    assert row["order"] == 2
    assert row["direction"] == "Входящий"
    assert row["role"] == "Маркетинг"
    assert row["action_label"] == "Загрузить сущности, связанные с участниками звонка"
    assert row["entity"] == CONTACT
    assert report["screen"][0]["entity_type"] == CASE


def test_report_of_a_call_when_history_was_not_saved_says_no_data(world: World) -> None:
    history = interpret(MARKETING, call(roles=("Маркетинг",)), world)
    report = action_report(history, shown=False)
    assert (report["message"], report["rows"]) == (NO_DATA, [])
    assert action_report(None, shown=True)["message"] == NO_DATA


def test_interpreter_imports_no_aws_or_http() -> None:
    code = (
        "import sys, mango_bridge.role_rules, mango_bridge.role_rules.run;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'httpx', 'urllib3')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_world_is_a_rules_backend() -> None:
    assert isinstance(World(), RulesBackend)
    assert replace(call(), direction="outgoing").direction == "outgoing"


def test_the_bpmsoft_settings_example_table_runs_as_its_comment_says(world: World) -> None:
    import yaml

    document = yaml.safe_load((ROOT / "docs/examples/settings-bpmsoft.yaml").read_text(encoding="utf-8"))
    table = TenantSettings.model_validate(document).role_rules

    interpret(table, call(operator=ANNA), world)
    assert world.bound("E1") == [(CONTACT, "c-1")]
    assert world.records[(CONTACT, "c-1")].owner == ANNA

    interpret(table, call(number=STRANGER, entry_id="E2"), world)
    [case] = world.of(CASE)
    assert world.bound("E2") == [(CASE, case.id)]

    world.context["E3"] = [(CONTACT, "c-1")]
    accounting = interpret(
        table, call("outgoing", operator=SERGEY, roles=("Бухгалтерия",), entry_id="E3"), world
    )
    assert world.of(LEAD) == [] and world.bound("E3") == [(CONTACT, "c-1")]
    assert [row.order for row in accounting.rows] == [1, 3, 40, 41, 42, 44]

    world.context["E4"] = [(CONTACT, "c-1")]
    interpret(table, call("outgoing", roles=("Продажи",), entry_id="E4"), world)
    assert len(world.of(LEAD)) == 1


def test_a_retry_with_the_journal_takes_the_path_of_the_failed_attempt(world: World) -> None:
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    journal: dict[str, list[Entity]] = {}
    world.binds_fail = 1
    with pytest.raises(CrmUnavailable):  # the new contact is created (row 15), binding it fails (16)
        interpret(table, call(number=STRANGER), world, journal=journal)
    history = interpret(table, call(number=STRANGER), world, journal=journal)

    [new] = [c for c in world.of(CONTACT) if c.phone == STRANGER]
    assert world.of(CASE) == []  # without the journal, row 10 would find the new contact → row 20 → a case
    assert world.bound("E1") == [(CONTACT, new.id)]
    assert orders(history) == [1, 2, 10, 11, 15, 16, 17]


def test_without_the_journal_a_retry_would_see_its_own_writes(world: World) -> None:
    table = TenantSettings.model_validate(EXAMPLE).role_rules
    world.binds_fail = 1
    with pytest.raises(CrmUnavailable):
        interpret(table, call(number=STRANGER), world)
    history = interpret(table, call(number=STRANGER), world)
    assert 20 in orders(history)  # why the workflow must hand the journal to the retry
