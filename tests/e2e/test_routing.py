"""Smart routing end to end in the local stack: Mango posts a live IVR leg, the bridge decides while
the greeting plays, the Mango sandbox routes the call (or its own scheme carries on), and the call
lands in amoCRM with the employee who took it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.crm_world import held_for
from tests.e2e.routing_world import (
    configure_pbx,
    employee_talks,
    fresh_number,
    fresh_tenant,
    play,
    register_tenant,
    route_record,
    routes_for,
    seed_client,
    wait_for_route_slot,
)
from tests.e2e.tenant_world import crm_status, eventually

BORIS = 8000002  # extension 102 in the demo employees
VERA = 8000003  # extension 103
VIP_GROUP = "600"
OUTSIDE_NUMBER = "79990001122"


@pytest.fixture(autouse=True)
def _pbx(stack: dict[str, Any]) -> None:
    configure_pbx(stack, busy=[], groups={VIP_GROUP: ["105", "106"], "500": ["101", "104"]})
    wait_for_route_slot()


def routed_to(stack: dict[str, Any], played: Any) -> list[str]:
    return [
        r["command"]["to_number"]
        for r in routes_for(stack, played.rendered.live_leg)
        if r["answer"] == 1000 and r.get("result") is None  # 4101 in result/route: the leg had gone
    ]


def responsible_routing_with_a_client_of_boris(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client, prefix: str
) -> tuple[str, str]:
    """A tenant that sends known clients to their responsible, and a number Борис is responsible for."""
    tenant = fresh_tenant(prefix)
    register_tenant(stack, admin, amo, tenant, routing={"route_to_responsible": True})
    caller = fresh_number()
    seed_client(amo, caller, BORIS)
    return tenant, caller


def test_seed_001_known_client_goes_to_the_responsible_manager(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    tenant, caller = responsible_routing_with_a_client_of_boris(stack, admin, amo, "route-known")

    played = play(stack, tenant, "ivr-known-client", caller, seed=1)

    assert played.routed is not None and played.routed["to_number"] == "102"
    assert played.leg["playback"]["done"] and set(played.leg["playback"]["statuses"]) == {200}
    record = route_record(stack, tenant, played.entry_id)
    assert record is not None and record.status == "routed" and record.result == 1000
    assert record.decision is not None and record.decision.rule == "known client → responsible"
    assert record.timings_ms["sent_after_received"] < 3000
    assert eventually(lambda: crm_status(admin, tenant, played.entry_id) == "done")
    notes = held_for(amo, caller)["notes"]
    assert [n["responsible_user_id"] for n in notes] == [BORIS]  # Борис took the call, as routed


def test_seed_000_vip_choosing_support_in_the_ivr_goes_to_the_vip_group(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    tenant = fresh_tenant("route-vip")
    rules = [
        {
            "name": "VIP в техподдержку",
            "conditions": [
                {"source": "vpbx", "field": "ivr_choice", "operator": "equals", "value": "2"},
                {"source": "crm", "field": "tags", "operator": "contains", "value": "VIP"},
            ],
            "action": {"kind": "group", "target": VIP_GROUP},
        }
    ]
    register_tenant(stack, admin, amo, tenant, routing={"rules": rules})
    vip, ordinary = fresh_number(), fresh_number()
    seed_client(amo, vip, VERA, tags=["VIP"])
    seed_client(amo, ordinary, VERA)

    played = play(stack, tenant, "ivr-vip-choice", vip, seed=2)
    assert routed_to(stack, played) == [VIP_GROUP]
    assert eventually(lambda: crm_status(admin, tenant, played.entry_id) == "done")
    assert [n["responsible_user_id"] for n in held_for(amo, vip)["notes"]] == [8000006]  # 105 in group 600

    wait_for_route_slot()
    other = play(stack, tenant, "ivr-vip-choice", ordinary, seed=3)
    assert other.routed is None  # not VIP: Mango's own scheme sends the call to support (104)
    record = route_record(stack, tenant, other.entry_id)
    assert record is not None and record.status == "not_routed"
    assert eventually(lambda: crm_status(admin, tenant, other.entry_id) == "done")
    assert [n["responsible_user_id"] for n in held_for(amo, ordinary)["notes"]] == [8000005]


def test_seed_000_open_case_goes_to_the_responsible_and_to_a_number_when_busy(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    """amoCRM has no cases: the client's open deal stands for the seed's «открытое обращение»."""
    tenant = fresh_tenant("route-busy")
    rules = [
        {
            "name": "Открытое обращение → ответственный",
            "conditions": [{"source": "crm", "field": "open_deals", "operator": "not_empty"}],
            "action": {"kind": "responsible", "fallback": OUTSIDE_NUMBER},
        }
    ]
    register_tenant(stack, admin, amo, tenant, routing={"rules": rules})
    first, second = fresh_number(), fresh_number()
    seed_client(amo, first, BORIS, open_deal=True)
    seed_client(amo, second, BORIS, open_deal=True)

    free = play(stack, tenant, "ivr-known-client", first, seed=4)
    assert routed_to(stack, free) == ["102"]

    # Борис (102) is on another call when the next client with an open deal calls.
    employee_talks(stack, tenant, "102")

    wait_for_route_slot()
    while_busy = play(stack, tenant, "ivr-known-client", second, seed=6)
    assert routed_to(stack, while_busy) == [OUTSIDE_NUMBER]
    record = route_record(stack, tenant, while_busy.entry_id)
    assert record is not None and record.decision is not None and record.decision.used_fallback
    assert "busy" in record.decision.reason


def test_cache_miss_then_hit_and_a_slow_crm_lets_the_call_continue(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    tenant, caller = responsible_routing_with_a_client_of_boris(stack, admin, amo, "route-cache")

    first = play(stack, tenant, "ivr-known-client", caller, seed=7)
    miss = route_record(stack, tenant, first.entry_id)
    assert miss is not None and miss.inputs["crm"]["source"] == "crm" and miss.status == "routed"

    wait_for_route_slot()
    second = play(stack, tenant, "ivr-known-client", caller, seed=8)
    hit = route_record(stack, tenant, second.entry_id)
    assert hit is not None and hit.inputs["crm"]["source"] == "cache" and hit.status == "routed"
    assert routed_to(stack, second) == ["102"]

    # The CRM takes 3 s to answer anything: a new caller is not routed, and Mango's scheme takes it.
    slow = fresh_number()
    seed_client(amo, slow, BORIS)
    amo.post("/_sandbox/faults", json={"latency_ms": 3000, "count": None})
    try:
        wait_for_route_slot()
        stuck = play(stack, tenant, "ivr-known-client", slow, seed=9)
    finally:
        amo.delete("/_sandbox/faults")
    assert stuck.routed is None and routes_for(stack, stuck.rendered.live_leg) == []
    record = route_record(stack, tenant, stuck.entry_id)
    assert record is not None and record.status == "not_routed"
    assert record.inputs["crm"]["status"] == "unavailable"
    assert eventually(lambda: crm_status(admin, tenant, stuck.entry_id) == "done")
    assert [n["responsible_user_id"] for n in held_for(amo, slow)["notes"]] == [8000001]  # 101 answered


def test_a_duplicated_appeared_is_routed_once(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    tenant, caller = responsible_routing_with_a_client_of_boris(stack, admin, amo, "route-dup")

    played = play(stack, tenant, "ivr-known-client", caller, seed=10, copies=3)

    assert len(routes_for(stack, played.rendered.live_leg)) == 1
    assert played.routed is not None and played.routed["to_number"] == "102"
    assert eventually(lambda: crm_status(admin, tenant, played.entry_id) == "done")
    assert len(held_for(amo, caller)["notes"]) == 1
