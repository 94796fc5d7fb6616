"""What ingest hands to the call-time function, without AWS: the RoutingTrigger follow-up."""

from __future__ import annotations

import json
from typing import Any

from mango_bridge.ingest import RoutingTrigger, TenantAuth, TenantAuthCache
from mango_bridge.mango.notifications import parse_notification

# The spec's own call-tracking example (the official D26 events/call example, quoted in
# /work/shared/reference/mango-vpbx-api.md §9): an employee's leg ("location":
# "abonent", no IVR) on a dynamic number: "dct":{"number":"74001234567","type":1}.
DIRECT = {
    "entry_id": "1MN0Q1MDOQ==",
    "call_id": "MIxEyNTzTo6NDxkzNMMOzNQ==",
    "timestamp": 1558422120,
    "seq": 1,
    "call_state": "Appeared",
    "location": "abonent",
    "from": {"number": "79001234567"},
    "to": {"extension": "29", "number": "sip:user00000@tech.mangosip.ru", "line_number": "74001234567"},
    "dct": {"number": "74001234567", "type": 1},
}


def trigger(call_tracking: bool = True) -> tuple[RoutingTrigger, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []
    tenants = TenantAuthCache(lambda _t: TenantAuth("key", "salt", None, call_tracking))
    return RoutingTrigger(tenants, sent.append, clock=lambda: 1558422120.0), sent


def deliver(trig: RoutingTrigger, **changes: Any) -> None:
    trig("acme", parse_notification("events/call", json.dumps({**DIRECT, **changes})), None)


def test_a_dynamic_number_ringing_an_employee_directly_captures_the_visitor() -> None:
    """docs/architecture.md: the visitor is fetched «at the first notification carrying dct type 1»;
    spec (D110 p.8, events/call): «dct ... type ... 1 - динамический номер» on any leg, here an
    employee's leg with no IVR before it."""
    trig, sent = trigger()
    deliver(trig)
    assert [(p["kind"], p["route"], p["capture_number"]) for p in sent] == [
        ("appeared", False, "74001234567")
    ]


def test_only_the_first_notification_of_a_leg_asks_and_only_with_call_tracking_on() -> None:
    """Later states of the same leg carry the same dct: the visitor is asked for once per leg."""
    trig, sent = trigger()
    deliver(trig, seq=2, call_state="Connected")
    deliver(trig, seq=3, call_state="Disconnected", disconnect_reason=1131)
    deliver(trig, dct={"number": "74001234567", "type": 2})  # a static number has no visitor
    assert sent == []
    off, sent_off = trigger(call_tracking=False)
    deliver(off)
    assert sent_off == []


def test_a_leg_that_starts_in_another_state_still_asks() -> None:
    """Spec p.9: «Начальное состояние вызова может быть любым» — a leg's first seq may not be Appeared."""
    trig, sent = trigger()
    deliver(trig, call_state="Connected")
    assert [p["capture_number"] for p in sent] == ["74001234567"]
