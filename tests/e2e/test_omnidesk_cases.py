"""Seed 003's numbered scenarios that concern data, as Omnidesk ends up holding them after calls played
through the local stack (Mango notifications → ingest → post-call workflow → the Omnidesk sandbox).

Scenarios about the agent's screen (1 and 3: the incoming-call pop-up; 2б and 18б: the agent picking a
case by hand; 6–7: the dialling block) have no data of their own; a backend takes the outcome the seed
gives when the employee does nothing in the helpdesk (docs/policy.md, «Helpdesk cases»).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.mango import player
from tests.e2e.omnidesk_world import (
    EMPLOYEES,
    MISSED_AT_EMPLOYEE,
    OUTGOING_NOT_REACHED,
    call,
    fresh_number,
    held_for,
    kinds_of_messages,
    omnidesk,
    register,
    summary,
)
from tests.e2e.tenant_world import play_in_order

MISSED, HANDLED = ("Пропущенный звонок",), ("Перезвонили",)


@pytest.fixture(scope="module")
def tenant(stack: dict[str, Any], admin: httpx.Client) -> str:
    ignored = {"extension": "107", "crm_user_id": "8000008", "name": "Стажёр", "ignore_calls": True}
    return register(stack, admin, "omni-cases", employees=[*EMPLOYEES, ignored])


def missed_call(stack: dict[str, Any], admin: httpx.Client, tenant: str, number: str) -> None:
    call(stack, admin, tenant, MISSED_AT_EMPLOYEE, caller=number)


def callback(
    stack: dict[str, Any], admin: httpx.Client, tenant: str, number: str, *, reached: bool = True
) -> None:
    call(stack, admin, tenant, "callback" if reached else OUTGOING_NOT_REACHED, customer=number, op="101")


# --- incoming calls ----------------------------------------------------------------------------------


def test_scenarios_1_2_a_known_users_answered_call_is_filed_under_that_user(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    with omnidesk(stack) as desk:
        desk.post(
            "/_sandbox/seed", json={"users": [{"user_phone": f"+{number}", "user_full_name": "Ирина Белова"}]}
        )
    call(stack, admin, tenant, "incoming-answered", caller=number)
    held = held_for(stack, number)
    (user,) = held["users"]
    assert user["user_full_name"] == "Ирина Белова"
    (case,) = held["cases"]
    assert summary(case) == (f"Входящий звонок с +{number}", "waiting", 8000001, ())
    assert case["channel"] == "call"


def test_scenarios_2a_4_15_an_unknown_number_becomes_a_user_and_its_answered_call_a_waiting_case(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    call(stack, admin, tenant, "incoming-answered", caller=number)
    held = held_for(stack, number)
    (user,) = held["users"]
    assert user["user_phone"] == f"+{number}"
    (case,) = held["cases"]
    assert summary(case) == (f"Входящий звонок с +{number}", "waiting", 8000001, ())
    assert kinds_of_messages(case) == ["user", "staff"]
    first, reply = case["messages"]
    assert "Разговаривал(а): Анна Смирнова (доб. 101), 1 мин 35 с." in first["content"]
    assert reply["content"].startswith(f"Запись разговора: {stack['front_url']}/recordings/{tenant}/")


def test_scenario_5_a_transfer_gives_each_employee_conversation_its_own_case(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    call(stack, admin, tenant, "blind-transfer", caller=number)
    first, second = held_for(stack, number)["cases"]
    assert summary(first) == (f"Входящий звонок с +{number}", "closed", 8000001, ())
    assert summary(second) == (f"Входящий звонок с +{number}", "waiting", 8000003, ())
    assert len(held_for(stack, number)["users"]) == 1


# --- outgoing calls ----------------------------------------------------------------------------------


def test_scenarios_10_19_an_outgoing_softphone_call_is_a_closed_case_with_the_responsible(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    call(stack, admin, tenant, "outgoing", customer=number)
    (case,) = held_for(stack, number)["cases"]
    assert summary(case) == (f"Исходящий звонок на +{number}", "closed", 8000007, ())


# --- missed calls and callbacks ----------------------------------------------------------------------


def test_scenarios_11_12_13_16_18v_five_missed_calls_one_case_a_callback_handles_it_then_a_new_case(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    for _ in range(5):
        missed_call(stack, admin, tenant, number)
    (case,) = held_for(stack, number)["cases"]
    assert summary(case) == (f"Пропущенный звонок с +{number}", "open", 8000002, MISSED)
    assert kinds_of_messages(case) == ["user"] * 5
    assert all(m["content"].startswith("Пропущенный звонок ") for m in case["messages"])

    callback(stack, admin, tenant, number)
    (case,) = held_for(stack, number)["cases"]
    assert summary(case) == (f"Пропущенный звонок с +{number}", "waiting", 8000002, HANDLED)
    assert kinds_of_messages(case) == ["user"] * 5 + ["staff"]
    assert "Запись разговора: " in case["messages"][-1]["content"]
    assert case["messages"][-1]["staff_id"] == 8000001

    missed_call(stack, admin, tenant, number)
    old, new = held_for(stack, number)["cases"]
    assert summary(old) == (f"Пропущенный звонок с +{number}", "waiting", 8000002, HANDLED)
    assert summary(new) == (f"Пропущенный звонок с +{number}", "open", 8000002, MISSED)
    assert kinds_of_messages(new) == ["user"]
    assert len(held_for(stack, number)["users"]) == 1


def test_scenarios_9_17_an_unanswered_callback_is_noted_in_the_case_which_stays_open(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    missed_call(stack, admin, tenant, number)
    callback(stack, admin, tenant, number, reached=False)
    (case,) = held_for(stack, number)["cases"]
    assert summary(case) == (f"Пропущенный звонок с +{number}", "open", 8000002, MISSED)
    assert kinds_of_messages(case) == ["user", "note"]
    assert case["messages"][-1]["content"].endswith("абонент не ответил.")

    missed_call(stack, admin, tenant, number)
    (case,) = held_for(stack, number)["cases"]
    assert kinds_of_messages(case) == ["user", "note", "user"], "no conversation yet: still grouped"


def test_scenario_18a_an_answered_call_after_a_missed_one_closes_the_missed_call_case(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    missed_call(stack, admin, tenant, number)
    call(stack, admin, tenant, "incoming-answered", caller=number)
    missed_case, answered_case = held_for(stack, number)["cases"]
    assert summary(missed_case) == (f"Пропущенный звонок с +{number}", "closed", 8000002, MISSED)
    assert summary(answered_case) == (f"Входящий звонок с +{number}", "waiting", 8000001, ())


# --- calls that create nothing -----------------------------------------------------------------------


def test_scenario_14_a_call_that_reached_no_employee_creates_nothing(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    rendered = call(stack, admin, tenant, "missed-ivr", caller=number)
    assert held_for(stack, number) == {"users": [], "cases": []}
    assert rendered.entry_ids


def test_f40_calls_of_an_operator_set_to_be_ignored_create_nothing(
    stack: dict[str, Any], admin: httpx.Client, tenant: str
) -> None:
    number = fresh_number()
    call(stack, admin, tenant, "incoming-answered", caller=number, op="107")
    assert held_for(stack, number) == {"users": [], "cases": []}


# --- the demo day --------------------------------------------------------------------------------------

DEMO_DAY_CASES: dict[str, list[tuple[str, str, int, tuple[str, ...]]]] = {
    "79851230001": [],  # missed in the IVR: reached no employee (14)
    "79161234567": [("Входящий звонок с +79161234567", "waiting", 8000001, ())],
    "74957771020": [("Исходящий звонок на +74957771020", "closed", 8000007, ())],
    "79037778899": [
        ("Входящий звонок с +79037778899", "waiting", 8000002, ()),
        ("Исходящий звонок на +79037778899", "closed", 8000002, ()),
    ],
    "79654440011": [("Пропущенный звонок с +79654440011", "waiting", 8000001, HANDLED)],
    "79261112233": [
        ("Входящий звонок с +79261112233", "closed", 8000001, ()),
        ("Входящий звонок с +79261112233", "waiting", 8000002, ()),
    ],
    "79857776655": [("Входящий звонок с +79857776655", "waiting", 8000006, ())],
    "79052223344": [
        ("Входящий звонок с +79052223344", "closed", 8000001, ()),
        ("Входящий звонок с +79052223344", "waiting", 8000003, ()),
    ],
    "79153332211": [],  # routed to extension 12, which is not mapped
    "79997356761": [("Входящий звонок с +79997356761", "waiting", 8000003, ())],
    "79112223344": [("Входящий звонок с +79112223344", "waiting", 8000005, ())],
    "79219876543": [("Входящий звонок с +79219876543", "waiting", 8000005, ())],
}


def test_the_demo_day_leaves_exactly_the_cases_the_omnidesk_document_describes(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    tenant = register(stack, admin, "omni-demo")
    play_in_order(
        stack, admin, tenant, player.render(player.load_scenario("demo-day"), base_time=1_764_000_000, seed=7)
    )

    for number, expected in DEMO_DAY_CASES.items():
        held = held_for(stack, number)
        assert [summary(case) for case in held["cases"]] == expected, number
        assert len(held["users"]) == (1 if expected else 0), number
    handled = held_for(stack, "79654440011")["cases"][0]
    assert kinds_of_messages(handled) == ["user", "staff"]
    short = held_for(stack, "79997356761")["cases"][0]
    assert kinds_of_messages(short) == ["user"], "a 4-second call leaves no recording to play"
