"""Folding a call: the worked examples of Mango's spec give the call a person would count, in any
delivery order and with any duplicates."""

from __future__ import annotations

from hypothesis import given
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


@given(
    st.permutations(list(range(len(CONSULTATIVE)))),
    st.lists(st.integers(min_value=0, max_value=len(CONSULTATIVE) - 1), max_size=8),
)
def test_any_order_and_any_duplicates_give_the_same_call(order: list[int], extra: list[int]) -> None:
    expected = fold(CONSULTATIVE).model_dump()
    deliveries = [CONSULTATIVE[i] for i in order] + [CONSULTATIVE[i] for i in extra]
    assert fold(deliveries).model_dump() == expected


def test_call_direction_zero_is_internal_not_missing() -> None:
    """Spec p.15, events/summary: «call_direction: направление вызова: 0 – внутренний (между двумя
    абонентами ВАТС)». A summary alone (no legs) must say "internal", not fall back to "unknown"."""
    call = fold(
        [
            ev(
                "events/summary",
                call_direction=0,
                **{"from": {"extension": "101", "number": "sip:a@x.mangosip.ru"}},
                to={"extension": "102", "number": "sip:b@x.mangosip.ru"},
                create_time=T0,
                forward_time=T0,
                talk_time=T0 + 3,
                end_time=T0 + 33,
                entry_result=1,
                disconnect_reason=1110,
            )
        ]
    )
    assert call.direction == "internal"
    assert call.talk_seconds == 30


CALLBACK_COMMAND = "cmd.2.vpbx.12345.external.system.com.net"


def _callback_leg(call_id: str, seq: int, state: str, at: int, caller: dict, callee: dict, **extra):
    return ev(
        "events/call",
        call_id=call_id,
        entry_id=E,
        timestamp=at,
        seq=str(seq),
        location="abonent",
        call_state=state,
        command_id=CALLBACK_COMMAND,
        **{"from": caller},
        to=callee,
        **extra,
    )


def test_click_to_call_never_answered_by_the_client_has_no_conversation() -> None:
    """Spec p.47: «Система звонит инициатору вызова — сотруднику ВАТС с внутренним номером "1234"»;
    «Инициатор взял трубку»; p.48: «Появляется новый вызов» (taken from the first) and «Сотрудника ВАТС
    с внутренним номером "5555" отклонил вызов ... до соединения». The initiator picking up is not a
    conversation: nobody talked, and the call was not answered."""
    target = {"extension": "5555", "number": "74955404444"}
    initiator = {"extension": "1234", "number": "12345678"}
    call = fold(
        [
            _callback_leg("100:500:251", 1, "Appeared", 1399906971, target, initiator),
            _callback_leg("100:500:251", 2, "Connected", 1399906973, target, initiator),
            _callback_leg(
                "100:500:251", 3, "Disconnected", 1399906975, target, initiator, disconnect_reason="1000"
            ),
            _callback_leg(
                "100:500:258",
                1,
                "Appeared",
                1399906976,
                {**initiator, "taken_from_call_id": "100:500:251"},
                target,
            ),
            _callback_leg(
                "100:500:258", 2, "Disconnected", 1399906979, initiator, target, disconnect_reason="1124"
            ),
        ]
    )
    assert call.talked_extensions == []
    assert call.answered is False
    legs = {leg.call_id: leg for leg in call.legs}
    assert legs["100:500:251"].rings_initiator is True
    assert legs["100:500:258"].rings_initiator is False
    assert call.caller.extension == "1234"  # the call comes from the initiator, not from the number rung


def test_click_to_call_answered_by_the_client_is_one_conversation() -> None:
    """Spec p.47: Mango first rings the initiator («Система звонит инициатору вызова»), then dials the
    client on a new leg taken from it. One conversation, listed once — not ["105", "105"]."""
    customer = {"number": "79037654321"}
    employee = {"extension": "105", "number": "sip:smirnov@demo.mangosip.ru"}
    dialling = {**employee, "taken_from_call_id": "ring"}
    extra = {"callback_initiator": "API"}
    call = fold(
        [
            _callback_leg("ring", 1, "Appeared", T0, customer, employee, **extra),
            _callback_leg("ring", 2, "Connected", T0 + 4, customer, employee, **extra),
            _callback_leg(
                "ring", 3, "Disconnected", T0 + 5, customer, employee, disconnect_reason=1000, **extra
            ),
            _callback_leg("dial", 1, "Appeared", T0 + 5, dialling, customer, **extra),
            _callback_leg("dial", 2, "Connected", T0 + 17, dialling, customer, **extra),
            _callback_leg(
                "dial", 3, "Disconnected", T0 + 197, dialling, customer, disconnect_reason=1120, **extra
            ),
        ]
    )
    assert call.talked_extensions == ["105"]
    assert call.direction == "outgoing"
    assert (call.answered, call.talk_seconds) == (True, 180)
    assert call.callee.e164 == "+79037654321"


def test_a_consultative_transfer_leg_is_never_taken_for_a_callback_ring() -> None:
    """Spec p.51–53: the first employee's leg is a conversation even though the consultation leg is
    taken from it (its parties are not swapped back: it goes on to a third employee)."""
    call = fold(CONSULTATIVE)
    assert not any(leg.rings_initiator for leg in call.legs)


def test_the_policy_sees_the_same_single_conversation_as_the_fold() -> None:
    """Spec p.47: the ringing-the-initiator leg is not a conversation — for the fold and the policy alike."""
    from mango_bridge.policy.conversations import shape

    customer = {"number": "79037654321"}
    employee = {"extension": "105", "number": "sip:smirnov@demo.mangosip.ru"}
    dialling = {**employee, "taken_from_call_id": "ring"}
    call = fold(
        [
            _callback_leg("ring", 1, "Appeared", T0, customer, employee),
            _callback_leg("ring", 2, "Connected", T0 + 4, customer, employee),
            _callback_leg("ring", 3, "Disconnected", T0 + 5, customer, employee),
            _callback_leg("dial", 1, "Appeared", T0 + 5, dialling, customer),
            _callback_leg("dial", 2, "Connected", T0 + 17, dialling, customer),
            _callback_leg("dial", 3, "Disconnected", T0 + 197, dialling, customer),
        ]
    )
    conversations = shape(call).conversations
    assert [(c.extension, c.side, c.leg_ids) for c in conversations] == [("105", "outgoing", ("dial",))]
    assert call.talked_extensions == [c.extension for c in conversations]
