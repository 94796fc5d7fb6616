"""Folding a call: the worked examples of Mango's spec give the call a person would count, in any
delivery order and with any duplicates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mango_bridge.calls.assembly import assemble
from mango_bridge.mango.notifications import parse_notification
from tests.samples import CONSULTATIVE, T0, E, ev


def fold(deliveries: list[tuple[str, str]]):
    return assemble(E, [parse_notification(s, j) for s, j in deliveries])


def test_consultative_transfer_is_one_answered_call_with_two_talking_employees() -> None:
    call = fold(CONSULTATIVE)
    assert call.status == "completed"
    assert call.direction == "incoming"
    assert call.answered is True
    assert call.talk_seconds == 195
    assert call.caller.e164 == "+79161234567"
    assert call.talked_extensions == ["123", "321"]
    legs = {leg.call_id: leg for leg in call.legs}
    assert legs["B=="].transferred_from == "A+/="
    assert legs["B=="].from_party.number == "79161234567"  # the customer replaced employee 123
    assert legs["B=="].transfer == "blind"
    assert legs["A+/="].disconnect_reason == 1120
    assert [(r.recording_id, r.ready, r.completion_code) for r in call.recordings] == [("R1", True, 1000)]


def test_without_summary_the_call_is_in_progress_but_already_readable() -> None:
    call = fold(CONSULTATIVE[:5])
    assert call.status == "in_progress"
    assert call.direction == "incoming"
    assert call.answered is True
    assert call.ended_at is None
    assert call.line_number == "74951234567"


def test_missed_in_ivr() -> None:
    call = fold(
        [
            ev(
                "events/call",
                call_id="I",
                seq=1,
                timestamp=T0,
                call_state="Appeared",
                location="ivr",
                **{"from": {"number": "79000000000"}},
                to={"number": "74950000000", "line_number": "74950000000"},
            ),
            ev(
                "events/call",
                call_id="I",
                seq=2,
                timestamp=T0 + 14,
                call_state="Disconnected",
                location="ivr",
                **{"from": {"number": "79000000000"}},
                to={"number": "74950000000"},
                disconnect_reason=1110,
            ),
            ev(
                "events/summary",
                call_direction=1,
                **{"from": {"number": "79000000000"}},
                to={},
                line_number="74950000000",
                create_time=T0,
                forward_time=0,
                talk_time=0,
                end_time=T0 + 14,
                entry_result=0,
                disconnect_reason=1110,
            ),
        ]
    )
    assert (call.answered, call.talk_seconds, call.talked_extensions) == (False, 0, [])
    assert call.legs[0].location == "ivr"


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(list(range(len(CONSULTATIVE)))),
    st.lists(st.integers(min_value=0, max_value=len(CONSULTATIVE) - 1), max_size=8),
)
def test_any_order_and_any_duplicates_give_the_same_call(order: list[int], extra: list[int]) -> None:
    expected = fold(CONSULTATIVE).model_dump()
    deliveries = [CONSULTATIVE[i] for i in order] + [CONSULTATIVE[i] for i in extra]
    assert fold(deliveries).model_dump() == expected
