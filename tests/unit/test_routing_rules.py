"""The routing rules engine: what conditions read, how they compare, which rule wins, where the call goes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mango_bridge.calls.visitor import Visitor
from mango_bridge.policy.facts import CrmFacts, CrmUser, FoundEntity
from mango_bridge.routing.decision import RESPONSIBLE_RULE, applies_to_line, decide
from mango_bridge.routing.greeting import check_lines, check_scheme
from mango_bridge.routing.inputs import CallView, CrmView, DtmfEntry, Presence, RoutingInputs
from mango_bridge.settings.model import EmployeeMapping, Routing

MSK = ZoneInfo("Europe/Moscow")
EMPLOYEES = [
    EmployeeMapping(extension="101", crm_user_id="1", name="Анна"),
    EmployeeMapping(extension="102", crm_user_id="2", name="Борис"),
    EmployeeMapping(extension="103", crm_user_id="3", name="Вера"),
]


def call(**overrides: Any) -> CallView:
    base: dict[str, Any] = {
        "entry_id": "e",
        "call_id": "c",
        "caller_number": "79161234567",
        "caller_e164": "+79161234567",
        "line": "74951234567",
        "location": "ivr",
        "at": datetime(2025, 11, 24, 10, 30, tzinfo=MSK),
        "dtmf": (DtmfEntry("2", "ivr"),),
    }
    return CallView(**{**base, **overrides})


def client(**overrides: Any) -> FoundEntity:
    base: dict[str, Any] = {
        "kind": "contact",
        "id": "77",
        "name": "ООО Ромашка",
        "responsible_user_ids": ("2",),
        "tags": ("VIP", "опт"),
        "open_deal_ids": ("5",),
        "fields": {"Город": "Москва", "Выручка": "1500000"},
    }
    return FoundEntity(**{**base, **overrides})


def inputs(
    *,
    found: tuple[FoundEntity, ...] = (),
    status: str = "found",
    presence: Presence | None = None,
    **call_kw: Any,
) -> RoutingInputs:
    users = (CrmUser(id="1"), CrmUser(id="2"), CrmUser(id="3"), CrmUser(id="9", blocked=True))
    crm = CrmView(status, CrmFacts(phone="+79161234567", found=found, users=users), "crm")  # type: ignore[arg-type]
    return RoutingInputs(call(**call_kw), crm, presence or Presence())


def rule(name: str, conditions: list[dict[str, Any]], action: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "conditions": conditions, "action": action}


def cond(source: str, field: str, operator: str, value: str | None = None) -> dict[str, Any]:
    return {"source": source, "field": field, "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("crm", "tags", "contains", "vip"), True),
        (cond("crm", "tags", "not_contains", "VIP"), False),
        (cond("crm", "tags", "equals", "опт"), True),
        (cond("crm", "open_deals", "not_empty"), True),
        (cond("crm", "open_deals", "greater", "1"), False),
        (cond("crm", "open_cases", "empty"), True),
        (cond("crm", "город", "equals", "москва"), True),
        (cond("crm", "Выручка", "greater", "1000000"), True),
        (cond("crm", "Выручка", "less", "1000000"), False),
        (cond("crm", "Отрасль", "empty"), True),
        (cond("crm", "responsible", "in_list", "4, 2"), True),
        (cond("call", "caller", "equals", "8 (916) 123-45-67"), True),
        (cond("call", "time", "greater", "9"), False),  # "10:30" is not a number: greater is false
        (cond("call", "hour", "greater", "9"), True),
        (cond("call", "weekday", "in_list", "1,2,3,4,5"), True),  # 24.11.2025 is a Monday
        (cond("vpbx", "ivr_choice", "equals", "2"), True),
        (cond("vpbx", "line", "not_equals", "74951234567"), False),
        (cond("vpbx", "group", "empty"), True),
    ],
)
def test_conditions_compare_what_the_user_sees(condition: dict[str, Any], expected: bool) -> None:
    routing = Routing(rules=[rule("r", [condition], {"kind": "number", "target": "79990000000"})])
    decision = decide(routing, EMPLOYEES, inputs(found=(client(),)))
    assert (decision.outcome == "route") is expected


def test_first_matching_rule_wins_top_down() -> None:
    routing = Routing(
        rules=[
            rule(
                "не VIP", [cond("crm", "tags", "not_contains", "VIP")], {"kind": "extension", "target": "101"}
            ),
            rule("VIP", [cond("crm", "tags", "contains", "VIP")], {"kind": "group", "target": "600"}),
            rule("все", [], {"kind": "extension", "target": "103"}),
        ]
    )
    decision = decide(routing, EMPLOYEES, inputs(found=(client(),)))
    assert (decision.rule, decision.target, decision.target_kind) == ("VIP", "600", "group")
    assert [check.rule for check in decision.checks] == ["не VIP", "VIP"]


def test_a_disabled_rule_is_skipped_and_no_match_leaves_the_call_to_mango() -> None:
    routing = Routing(rules=[{**rule("все", [], {"kind": "extension", "target": "103"}), "enabled": False}])
    decision = decide(routing, EMPLOYEES, inputs(found=(client(),)))
    assert decision.outcome == "no_route" and "Mango's own scheme" in decision.reason


def test_a_crm_that_did_not_answer_stops_the_rules_instead_of_guessing() -> None:
    routing = Routing(
        rules=[
            rule("VIP", [cond("crm", "tags", "contains", "VIP")], {"kind": "group", "target": "600"}),
            rule("все", [], {"kind": "extension", "target": "103"}),
        ]
    )
    decision = decide(routing, EMPLOYEES, inputs(status="unavailable"))
    assert decision.outcome == "no_route" and decision.rule == "VIP"
    assert decision.checks[0].conditions[0].result == "unknown"


def test_a_rule_on_the_ivr_choice_waits_for_the_digits() -> None:
    routing = Routing(
        rules=[
            rule("поддержка", [cond("vpbx", "ivr_choice", "equals", "2")], {"kind": "group", "target": "600"})
        ],
        route_to_responsible=True,
    )
    assert decide(routing, EMPLOYEES, inputs(found=(client(),), dtmf=())).outcome == "wait"
    assert decide(routing, EMPLOYEES, inputs(found=(client(),))).target == "600"
    assert (
        decide(routing, EMPLOYEES, inputs(found=(client(),), dtmf=(DtmfEntry("1", "ivr"),))).target == "102"
    )


def test_dtmf_at_a_position_and_call_tracking_data_are_readable() -> None:
    visitor = Visitor(utm_source="yandex", city="Москва")
    routing = Routing(
        rules=[
            rule(
                "заказ с Яндекса",
                [
                    cond("vpbx", "dtmf:ivr.1", "equals", "123456"),
                    cond("call", "utm_source", "equals", "Yandex"),
                ],
                {"kind": "extension", "target": "101"},
            )
        ]
    )
    dtmf = (DtmfEntry("1", "ivr"), DtmfEntry("123456", "ivr.1"))
    assert decide(routing, EMPLOYEES, inputs(dtmf=dtmf, visitor=visitor)).target == "101"
    assert decide(routing, EMPLOYEES, inputs(dtmf=dtmf)).outcome == "no_route"


def test_route_to_responsible_takes_the_first_client_and_its_first_responsible_who_can_be_one() -> None:
    routing = Routing(route_to_responsible=True)
    first = client(id="1", responsible_user_ids=("9", "3"))  # 9 is blocked
    second = client(id="2", responsible_user_ids=("1",))
    decision = decide(routing, EMPLOYEES, inputs(found=(first, second)))
    assert (decision.rule, decision.target, decision.display_name) == (RESPONSIBLE_RULE, "103", "Вера")
    unknown = decide(routing, EMPLOYEES, inputs(found=()))
    assert unknown.outcome == "no_route"
    unmapped = decide(routing, EMPLOYEES, inputs(found=(client(responsible_user_ids=("42",)),)))
    assert unmapped.outcome == "no_route" and "has no extension" in unmapped.reason


def test_a_busy_target_goes_to_the_fallback_and_without_one_stays_with_mango() -> None:
    with_fallback = Routing(
        rules=[
            rule(
                "обращение",
                [cond("crm", "open_deals", "not_empty")],
                {"kind": "responsible", "fallback": "79990001122"},
            )
        ]
    )
    busy = Presence(talking=frozenset({"102"}))
    decision = decide(with_fallback, EMPLOYEES, inputs(found=(client(),), presence=busy))
    assert (decision.target, decision.used_fallback) == ("79990001122", True)
    assert "busy" in decision.reason
    free = decide(with_fallback, EMPLOYEES, inputs(found=(client(),)))
    assert (free.target, free.used_fallback) == ("102", False)
    without = Routing(rules=[rule("x", [], {"kind": "extension", "target": "102"})])
    assert decide(without, EMPLOYEES, inputs(presence=busy)).outcome == "no_route"


def test_contact_centre_statuses_route_only_to_employees_on_line() -> None:
    statuses = Presence(statuses={"101": "Перерыв", "103": "На линии"})
    action = {"kind": "extension", "target": "101", "fallback": "103"}
    on = Routing(rules=[rule("x", [], action)], contact_centre_statuses=True)
    off = Routing(rules=[rule("x", [], action)])
    assert decide(on, EMPLOYEES, inputs(presence=statuses)).target == "103"
    assert decide(off, EMPLOYEES, inputs(presence=statuses)).target == "101"


def test_routing_applies_to_the_listed_lines_only() -> None:
    assert applies_to_line(Routing(), None)
    listed = Routing(lines=["+7 (495) 123-45-67"])
    assert applies_to_line(listed, "74951234567") and not applies_to_line(listed, "74950000000")


def test_the_greeting_check_warns_in_plain_words() -> None:
    good = {"id": 1, "name": "Основная", "steps": [{"type": "greeting", "duration": 8, "wait_end": True}]}
    short = {"id": 2, "name": "Короткая", "steps": [{"type": "greeting", "duration": 3, "wait_end": "нет"}]}
    none = {"id": 3, "name": "Без приветствия", "steps": [{"type": "dial", "group": "500"}]}
    assert check_scheme("74951234567", good) == []
    assert {w.code for w in check_scheme("74951234567", short)} == {"too_short", "no_wait_for_end"}
    (missing,) = check_scheme("74951234567", none)
    assert missing.code == "no_greeting" and "ожидать окончания" in missing.message
    lines = [{"number": "74951234567", "schema_id": 2, "schema_name": "Короткая"}]
    codes = [w.code for w in check_lines(Routing(lines=["74951234567", "74990000000"]), lines, [short])]
    assert codes == ["too_short", "no_wait_for_end", "line_unknown"]
