"""Hand-written call samples following the worked examples of Mango's spec (D110 p.46–59)."""

from __future__ import annotations

import json

E = "MjY4Nzg2ODQwMTo4MQ=="
T0 = 1_764_000_000


def ev(suffix: str, **data: object) -> tuple[str, str]:
    data.setdefault("entry_id", E)
    return suffix, json.dumps(data, separators=(",", ":"))


# Consultative transfer per the spec (D110 p.51–53): customer ↔ 123 (leg A), 123 consults 321 (leg B),
# 123 hangs up, leg B gets a second Connected with the customer substituted.
CONSULTATIVE = [
    ev(
        "events/call",
        call_id="A+/=",
        seq=1,
        timestamp=T0,
        call_state="Appeared",
        location="abonent",
        **{"from": {"number": "79161234567"}},
        to={"extension": "123", "number": "sip:u123@x.mangosip.ru", "line_number": "74951234567"},
    ),
    ev(
        "events/call",
        call_id="A+/=",
        seq=2,
        timestamp=T0 + 5,
        call_state="Connected",
        location="abonent",
        **{"from": {"number": "79161234567"}},
        to={"extension": "123", "line_number": "74951234567"},
    ),
    ev(
        "events/call",
        call_id="A+/=",
        seq=3,
        timestamp=T0 + 60,
        call_state="OnHold",
        location="abonent",
        **{"from": {"number": "79161234567"}},
        to={"extension": "123"},
    ),
    ev(
        "events/call",
        call_id="B==",
        seq=1,
        timestamp=T0 + 61,
        call_state="Appeared",
        location="abonent",
        **{"from": {"extension": "123", "taken_from_call_id": "A+/="}},
        to={"extension": "321"},
        transfer="consultative",
    ),
    ev(
        "events/call",
        call_id="B==",
        seq=2,
        timestamp=T0 + 66,
        call_state="Connected",
        location="abonent",
        **{"from": {"extension": "123", "taken_from_call_id": "A+/="}},
        to={"extension": "321"},
        transfer="consultative",
    ),
    ev(
        "events/call",
        call_id="A+/=",
        seq=4,
        timestamp=T0 + 90,
        call_state="Disconnected",
        location="abonent",
        **{"from": {"number": "79161234567"}},
        to={"extension": "123"},
        disconnect_reason=1120,
    ),
    ev(
        "events/call",
        call_id="B==",
        seq=3,
        timestamp=T0 + 90,
        call_state="Connected",
        location="abonent",
        **{"from": {"number": "79161234567", "taken_from_call_id": "A+/="}},
        to={"extension": "321"},
        transfer="blind",
    ),
    ev(
        "events/call",
        call_id="B==",
        seq=4,
        timestamp=T0 + 200,
        call_state="Disconnected",
        location="abonent",
        **{"from": {"number": "79161234567", "taken_from_call_id": "A+/="}},
        to={"extension": "321"},
        disconnect_reason=1110,
    ),
    ev(
        "events/recording",
        recording_id="R1",
        recording_state="Started",
        seq=1,
        call_id="A+/=",
        extension="123",
        timestamp=T0 + 5,
    ),
    ev(
        "events/recording",
        recording_id="R1",
        recording_state="Completed",
        seq=2,
        call_id="A+/=",
        extension="123",
        timestamp=T0 + 90,
        completion_code=1000,
        recipient="Cloud",
    ),
    ev(
        "events/summary",
        call_direction=1,
        **{"from": {"number": "79161234567"}},
        to={"extension": "321", "number": "sip:u321@x.mangosip.ru"},
        line_number="74951234567",
        create_time=T0,
        forward_time=T0,
        talk_time=T0 + 5,
        end_time=T0 + 200,
        entry_result=1,
        disconnect_reason=1110,
    ),
    ev("events/record/added", recording_id="R1", timestamp=T0 + 400, product_id=1, user_id=77),
]
