"""Helpdesk case rules (seed 003, F32–F40): which case each call opens or joins, and what it settles.

Calls are Mango scenarios folded by the real assembly; the CRM is a helpdesk (users and cases, every
call filed under a user). A caller's open missed-call cases come in the facts, as the adapter finds
them before the call's own writes.
"""

from __future__ import annotations

import pytest

from mango_bridge.calls.model import CallAggregate
from mango_bridge.policy import CreateContact, Decision, LogCall, decide
from mango_bridge.policy.facts import Capabilities, CrmFacts, EntityRef
from mango_bridge.policy.intents import UpdateCase
from mango_bridge.settings.model import EmployeeMapping, MangoConnection, TenantSettings
from tests.unit.test_policy_builders import (
    HELPDESK_CRM,
    NEW_NUMBER,
    PIPELINE_CRM,
    call_of,
    contact,
    known,
    story,
    tenant,
)

OUTGOING_NOT_REACHED = story(
    """
name: outgoing-not-reached
description: Employee 106 dials a customer from the desk phone; nobody answers for 30 s.
vars:
  customer: "79037654321"
  line: "74951234567"
  op: "106"
x-parties:
  operator: &operator {extension: $op}
  customer: &customer {number: $customer}
steps:
  - {t: 0, event: events/call, data: {call_id: "@leg", location: abonent, call_state: Appeared, from: *operator, to: *customer}}
  - {t: 30, event: events/call, data: {call_id: "@leg", location: abonent, call_state: Disconnected, from: *operator, to: *customer, disconnect_reason: 1110}}
  - t: 31
    event: events/summary
    data: {call_direction: 2, from: *operator, to: *customer, line_number: $line,
           create_time: T, forward_time: T, talk_time: 0, end_time: T+30, entry_result: 0, disconnect_reason: 1110}
"""
)


def helpdesk(
    call: CallAggregate, facts: CrmFacts = NEW_NUMBER, settings: TenantSettings | None = None
) -> Decision:
    return decide(call, settings or tenant(), facts, HELPDESK_CRM)


def waiting_missed_case(*case_ids: str) -> CrmFacts:
    """A known user whose missed calls wait in open missed-call cases."""
    return known(contact("user-1", open_case_ids=case_ids))


def missed_call() -> CallAggregate:
    """A caller rings employee 102 for 25 s and hangs up."""
    return call_of("two-calls-at-once", "second")


def callback(reached: bool = True) -> CallAggregate:
    if reached:
        return call_of("callback", op="101", customer="79161110002")
    return call_of(OUTGOING_NOT_REACHED, customer="79161110002")


def case_of(decision: Decision, index: int = 0) -> tuple[str | None, str | None, str | None, bool]:
    """(joined case id, new subject, new status, missed-call mark) of one call record."""
    filing = decision.of(LogCall)[index].case
    assert filing is not None
    return (filing.case.id if filing.case else None, filing.subject, filing.status, filing.missed_call)


def updates(decision: Decision) -> list[tuple[str, str, bool]]:
    return [(u.case.id, u.status, u.handled) for u in decision.of(UpdateCase)]


# --- F32 / F33: an answered call from a new number ---------------------------------------------------


def test_answered_call_from_a_new_number_creates_the_user_and_a_waiting_incoming_call_case() -> None:
    decision = helpdesk(call_of("incoming-answered"))
    (user,) = decision.of(CreateContact)
    (log,) = decision.of(LogCall)
    assert (user.phone, user.responsible_user_id) == ("+79161234567", "u101")
    assert log.related_keys == ("create_contact",)
    assert case_of(decision) == (None, "Входящий звонок с +79161234567", "waiting", False)
    assert log.recording_ids, "the recording goes into the case with the call record"
    assert updates(decision) == []


def test_answered_call_from_a_known_user_opens_a_case_and_creates_no_user() -> None:
    decision = helpdesk(call_of("incoming-answered"), known(contact("user-1")))
    assert decision.of(CreateContact) == []
    assert decision.of(LogCall)[0].customer == EntityRef(kind="contact", id="user-1", name="Иванов")
    assert case_of(decision) == (None, "Входящий звонок с +79161234567", "waiting", False)


def test_the_case_text_reads_in_the_tenants_clock_with_the_employees_name() -> None:
    settings = TenantSettings(
        mango=MangoConnection(api_key="demo-key-0001"),
        employees=[EmployeeMapping(extension="101", crm_user_id="u101", name="Анна Смирнова")],
        timezone="Asia/Yekaterinburg",
    )
    filing = helpdesk(call_of("incoming-answered"), settings=settings).of(LogCall)[0].case
    assert filing is not None
    assert filing.text == (
        "Входящий звонок 24.11.2025 21:00, линия +74951234567. "
        "Разговаривал(а): Анна Смирнова (доб. 101), 1 мин 35 с."
    )


# --- F36: missed calls are grouped until a conversation ----------------------------------------------


def test_missed_call_from_a_new_number_opens_an_open_missed_call_case() -> None:
    decision = helpdesk(missed_call())
    assert [type(i).__name__ for i in decision.intents] == ["CreateContact", "LogCall"]
    assert case_of(decision) == (None, "Пропущенный звонок с +79161110002", "open", True)
    assert decision.of(LogCall)[0].responsible_user_id == "u102"


def test_missed_call_from_a_caller_with_an_open_missed_call_case_joins_it() -> None:
    decision = helpdesk(missed_call(), waiting_missed_case("case-7"))
    assert case_of(decision) == ("case-7", None, None, False)
    assert decision.of(LogCall)[0].case.text.startswith("Пропущенный звонок 24.11.2025 19:00")  # type: ignore[union-attr]
    assert updates(decision) == [], "the missed-call case stays open"
    assert "missed calls are grouped until a conversation (F36)" in decision.of(LogCall)[0].reason


def test_missed_group_call_opens_the_missed_call_case_for_the_employee_it_was_distributed_to() -> None:
    decision = helpdesk(call_of("missed-group"))
    assert case_of(decision) == (None, "Пропущенный звонок с +79104443322", "open", True)
    assert decision.of(LogCall)[0].responsible_user_id == "u101"


# --- F39: status logic ----------------------------------------------------------------------------


def test_answered_call_after_missed_ones_opens_a_new_case_and_closes_the_missed_call_case() -> None:
    decision = helpdesk(call_of("incoming-answered", caller="79161110002"), waiting_missed_case("case-7"))
    assert case_of(decision) == (None, "Входящий звонок с +79161110002", "waiting", False)
    assert updates(decision) == [("case-7", "closed", False)]
    assert [i.kind for i in decision.intents] == ["update_case", "log_call"]


def test_answered_callback_is_filed_into_the_missed_call_case_which_waits_and_is_marked_handled() -> None:
    decision = helpdesk(callback(), waiting_missed_case("case-7"))
    assert case_of(decision) == ("case-7", None, None, False)
    assert updates(decision) == [("case-7", "waiting", True)]
    assert decision.of(LogCall)[0].recording_ids, "the callback's recording goes into the missed-call case"


def test_a_conversation_settles_every_open_missed_call_case_of_the_caller() -> None:
    decision = helpdesk(callback(), waiting_missed_case("case-9", "case-7"))
    assert updates(decision) == [("case-9", "waiting", True), ("case-7", "closed", False)]


def test_unanswered_callback_is_noted_in_the_missed_call_case_which_stays_open() -> None:
    decision = helpdesk(callback(reached=False), waiting_missed_case("case-7"))
    (log,) = decision.of(LogCall)
    assert (log.result, case_of(decision)) == ("not_reached", ("case-7", None, None, False))
    assert log.case is not None and log.case.text.endswith("абонент не ответил.")
    assert updates(decision) == []


def test_outgoing_call_not_filed_anywhere_opens_a_closed_case_with_the_responsible() -> None:
    decision = helpdesk(call_of("outgoing"), known(contact("user-1")))
    assert case_of(decision) == (None, "Исходящий звонок на +74955404444", "closed", False)
    assert decision.of(LogCall)[0].responsible_user_id == "u106"


def test_unanswered_outgoing_call_without_a_missed_call_case_records_the_attempt_in_a_closed_case() -> None:
    decision = helpdesk(callback(reached=False))
    assert [i.kind for i in decision.intents] == ["create_contact", "log_call"]
    assert case_of(decision) == (None, "Исходящий звонок на +79161110002", "closed", False)


# --- F34: one case per employee conversation --------------------------------------------------------


def test_transferred_call_gives_each_employee_conversation_its_own_case() -> None:
    decision = helpdesk(call_of("blind-transfer"), waiting_missed_case("case-7"))
    first, second = decision.of(LogCall)
    assert (first.employee_extension, second.employee_extension) == ("101", "103")
    assert case_of(decision, 0) == (None, "Входящий звонок с +79052223344", "closed", False)
    assert case_of(decision, 1) == (None, "Входящий звонок с +79052223344", "waiting", False)
    assert first.case is not None and first.case.text.endswith("Звонок переведён на другого сотрудника.")
    assert updates(decision) == [("case-7", "closed", False)]


# --- F38 / F40: calls that create nothing ------------------------------------------------------------


def test_call_that_reached_no_employee_creates_nothing() -> None:
    decision = helpdesk(call_of("missed-ivr"), waiting_missed_case("case-7"))
    assert decision.intents == []


def test_calls_of_an_ignored_operator_create_nothing() -> None:
    decision = helpdesk(call_of("incoming-answered"), waiting_missed_case("case-7"), tenant(ignored=("101",)))
    assert decision.intents == []
    assert any("«Игнорировать звонки этого оператора»" in reason for reason in decision.skipped)


def test_hidden_number_files_no_case_and_says_why() -> None:
    call = call_of("incoming-answered")
    hidden = call.model_copy(update={"caller": call.caller.model_copy(update={"number": None, "e164": None})})
    (log,) = helpdesk(hidden).of(LogCall)
    assert log.case is None
    assert "not filed in a case: the number is hidden" in log.reason


# --- only helpdesks file calls in cases -------------------------------------------------------------


@pytest.mark.parametrize("capabilities", [PIPELINE_CRM, Capabilities(contact=True)])
def test_crms_without_cases_get_plain_call_records(capabilities: Capabilities) -> None:
    decision = decide(call_of("incoming-answered"), tenant(), waiting_missed_case("case-7"), capabilities)
    assert [log.case for log in decision.of(LogCall)] == [None]
    assert decision.of(UpdateCase) == []


def test_a_case_decision_survives_being_stored_as_json() -> None:
    decision = helpdesk(callback(), waiting_missed_case("case-7"))
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
