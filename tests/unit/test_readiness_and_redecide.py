"""When a call is whole enough to decide, what the policy read of it, and a later decision merged into
an earlier one without writing anything twice (issue «Order-proof to the end»)."""

from __future__ import annotations

import json

from mango_bridge.calls.assembly import assemble
from mango_bridge.mango.notifications import parse_notification
from mango_bridge.policy.engine import Decision
from mango_bridge.policy.intents import CreateContact, LogCall
from mango_bridge.policy.readiness import decision_basis, unsettled_reasons
from mango_bridge.policy.redecide import merge
from tests.samples import CONSULTATIVE, E


def fold(deliveries: list[tuple[str, str]]):
    return assemble(E, [parse_notification(s, j) for s, j in deliveries])


def _is_connected(delivery: tuple[str, str]) -> bool:
    return delivery[0] == "events/call" and '"call_state":"Connected"' in delivery[1]


def test_a_whole_call_is_settled() -> None:
    assert unsettled_reasons(fold(CONSULTATIVE)) == []


def test_a_summary_before_the_employees_connected_leg_waits_for_it() -> None:
    """«answered, but no employee leg was connected» must never be decided while a Connected is missing."""
    without = [d for d in CONSULTATIVE if not _is_connected(d)]
    reasons = unsettled_reasons(fold(without))
    assert any("talked" in reason or "misses notification" in reason for reason in reasons), reasons


def test_a_hole_in_a_legs_seq_is_seen() -> None:
    connected = next(i for i, d in enumerate(CONSULTATIVE) if _is_connected(d))
    reasons = unsettled_reasons(fold(CONSULTATIVE[:connected] + CONSULTATIVE[connected + 1 :]))
    assert any("misses notification(s) seq" in reason for reason in reasons), reasons


def test_no_summary_is_not_settled() -> None:
    calls = [d for d in CONSULTATIVE if d[0] != "events/summary"]
    assert unsettled_reasons(fold(calls)) == ["the summary has not arrived"]


def test_the_basis_changes_with_a_late_leg_but_not_with_a_recordings_file() -> None:
    whole = fold(CONSULTATIVE)
    without_connected = fold([d for d in CONSULTATIVE if not _is_connected(d)])
    assert decision_basis(whole) != decision_basis(without_connected)
    stored = (
        "events/record/added",
        json.dumps({"entry_id": E, "recording_id": "R1", "timestamp": 1764000100}),
    )
    assert decision_basis(fold([*CONSULTATIVE, stored])) == decision_basis(whole)


def _log(
    key: str, *, talk: tuple[str, ...] = (), result: str = "answered", ext: str | None = "101"
) -> LogCall:
    return LogCall(
        key=key,
        reason="test",
        direction="incoming",
        result=result,  # type: ignore[arg-type]
        started_at=1,
        duration_seconds=10,
        responsible_user_id="1",
        bound_by="employee",
        employee_extension=ext,
        talk_leg_ids=talk,
        leg_ids=talk,
        phone="+79161234567",
        customer=None,
    )


def _contact() -> CreateContact:
    return CreateContact(
        key="create_contact", reason="new number", responsible_user_id="1", name="Новый", phone=None
    )


def test_a_record_whose_first_leg_arrived_late_keeps_its_earlier_key() -> None:
    earlier = Decision(entry_id=E, intents=[_contact(), _log("log_call:B", talk=("B",))])
    later = Decision(entry_id=E, intents=[_contact(), _log("log_call:A", talk=("A", "B"))])
    merged = merge(earlier, later)
    assert merged.keys == ["create_contact", "log_call:B"]
    assert merged.of(LogCall)[0].talk_leg_ids == ("A", "B")


def test_a_new_conversation_is_added_and_nothing_earlier_is_dropped() -> None:
    earlier = Decision(entry_id=E, intents=[_log("log_call:A", talk=("A",)), _log("log_call:X", talk=("X",))])
    later = Decision(
        entry_id=E, intents=[_log("log_call:A", talk=("A",)), _log("log_call:C", talk=("C",), ext="102")]
    )
    assert merge(earlier, later).keys == ["log_call:A", "log_call:C", "log_call:X"]


def test_a_record_written_from_the_summary_is_continued_by_that_employees_leg() -> None:
    earlier = Decision(entry_id=E, intents=[_log("log_call:entry", ext="101")])
    later = Decision(entry_id=E, intents=[_log("log_call:L1", talk=("L1",), ext="101")])
    assert merge(earlier, later).keys == ["log_call:entry"]


def test_the_missed_call_record_stays_one_record() -> None:
    earlier = Decision(entry_id=E, intents=[_log("log_call:ivr", result="missed", ext=None)])
    later = Decision(entry_id=E, intents=[_log("log_call:first", result="missed", ext="102")])
    assert merge(earlier, later).keys == ["log_call:ivr"]
