"""The route function's domain against moto and the Mango API sandbox: once per call, within the
greeting, never past a CRM that is slow, Mango's rate limit honoured, a refused route sent to the fallback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.mango.client import MangoClient
from mango_bridge.policy.facts import CrmFacts, CrmUser, FoundEntity
from mango_bridge.settings.model import MangoConnection, TenantSettings
from sandbox.mango.api import MangoApiSandbox

TENANT = "acme"
LINE = "74951234567"


class SlowCrm:
    """A CRM adapter whose lookups take `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lookups: list[str] = []

    def facts(self, phone: str | None) -> CrmFacts:
        self.lookups.append(phone or "")
        time.sleep(self.delay)
        found = FoundEntity(kind="contact", id="1", responsible_user_ids=("2",), open_deal_ids=("9",))
        return CrmFacts(phone=phone, found=(found,), users=(CrmUser(id="2"),))


@pytest.fixture
def mango() -> Iterator[MangoApiSandbox]:
    sandbox = MangoApiSandbox().start()
    yield sandbox
    sandbox.stop()


def settings(mango: MangoApiSandbox, **routing: Any) -> TenantSettings:
    return TenantSettings(
        mango=MangoConnection(api_key=mango.api_key, api_base_url=mango.url),
        employees=[{"extension": "102", "crm_user_id": "2"}, {"extension": "103", "crm_user_id": "3"}],
        routing=routing or {"route_to_responsible": True},
    )


def router(
    aws: Any, mango: MangoApiSandbox, crm: SlowCrm, tenant_settings: TenantSettings, **budget: float
) -> Any:
    from mango_bridge.routing.service import Budget, Dependencies, Router
    from mango_bridge.store.calls import CallStore
    from mango_bridge.store.phone_cache import PhoneCache
    from mango_bridge.store.routes import PresenceStore, RouteRateLimit, RouteStore

    client = MangoClient(mango.url, mango.api_key, mango.api_salt, timeout=2.0)
    return Router(
        Dependencies(
            settings=lambda tenant: tenant_settings,
            calls=CallStore(),
            routes=RouteStore(),
            limiter=RouteRateLimit(interval=budget.pop("interval", 2.0)),
            presence=PresenceStore(),
            cache=PhoneCache(),
            mango=lambda tenant: client,
            adapter=lambda tenant, s: crm,
            budget=Budget(**budget),
        )
    )


def appear(mango: MangoApiSandbox, entry: str, caller: str = "79161234567") -> Any:
    """The IVR leg in the bridge's journal, and announced to the sandbox PBX as routable."""
    from mango_bridge.ingest import refold
    from mango_bridge.store.calls import CallStore, call_pk

    call_id = f"leg-{entry}"
    event = {
        "entry_id": entry,
        "call_id": call_id,
        "timestamp": int(time.time()),
        "seq": 1,
        "call_state": "Appeared",
        "location": "ivr",
        "from": {"number": caller},
        "to": {"number": LINE, "line_number": LINE},
    }
    store = CallStore()
    store.put_event(call_pk(TENANT, entry), "call", f"{call_id}#00000001", "events/call", json.dumps(event))
    refold(store, TENANT, entry)
    mango.route_desk.announce(
        {
            "entry_id": entry,
            "call_id": call_id,
            "to_url": "http://127.0.0.1:9/",
            "caller": caller,
            "line": LINE,
        }
    )
    return call_id


def trigger(entry: str, call_id: str) -> Any:
    from mango_bridge.routing.service import Trigger

    return Trigger(tenant=TENANT, entry_id=entry, call_id=call_id, received_at=time.time())


def route_commands(mango: MangoApiSandbox) -> list[dict[str, Any]]:
    return [c["data"] for c in mango.commands if c["path"] == "commands/route"]


def test_a_call_is_routed_once_and_a_second_trigger_sends_nothing(aws: Any, mango: MangoApiSandbox) -> None:
    crm = SlowCrm()
    routing = router(aws, mango, crm, settings(mango))
    call_id = appear(mango, "e1")
    first = routing.handle(trigger("e1", call_id))
    again = routing.handle(trigger("e1", call_id))
    assert (first.status, first.target) == ("sent", "102")
    assert again.command_id == first.command_id
    assert [c["to_number"] for c in route_commands(mango)] == ["102"]
    done = routing.result(TENANT, first.command_id, 1000)
    assert done.status == "routed" and done.result == 1000


def test_a_slow_crm_is_not_waited_for_and_fills_the_cache_for_the_next_call(
    aws: Any, mango: MangoApiSandbox
) -> None:
    crm = SlowCrm(delay=0.6)
    routing = router(aws, mango, crm, settings(mango), crm_lookup=0.2, interval=0.1)
    started = time.monotonic()
    record = routing.handle(trigger("e2", appear(mango, "e2")))
    assert time.monotonic() - started < 0.5
    assert record.status == "not_routed" and record.inputs["crm"]["status"] == "unavailable"
    assert route_commands(mango) == []
    routing.wait_for_background()
    hit = routing.handle(trigger("e3", appear(mango, "e3")))
    assert (hit.status, hit.target, hit.inputs["crm"]["source"]) == ("sent", "102", "cache")
    assert len(crm.lookups) == 1


def test_mango_rate_limit_queues_a_route_or_drops_it_when_it_would_be_late(
    aws: Any, mango: MangoApiSandbox
) -> None:
    # Generous times, so a loaded machine's overhead (hundreds of ms) cannot change the outcome.
    mango.route_desk.rate_limit_seconds = 1.2
    routing = router(aws, mango, SlowCrm(), settings(mango), interval=1.5, deadline=2.7)
    legs = [appear(mango, f"r{i}", f"7916123456{i}") for i in range(3)]
    triggers = [trigger(f"r{i}", leg) for i, leg in enumerate(legs)]  # three callers at the same moment
    records = [routing.handle(each) for each in triggers]
    assert [r.status for r in records] == ["sent", "sent", "dropped"]
    assert records[1].timings_ms["sent_after_received"] >= 1200
    assert "one route per 2 s" in records[2].reason
    assert len(route_commands(mango)) == 2
    assert not any(r["answer"] == 429 for r in mango.route_desk.routes)


def test_a_leg_gone_or_a_refused_route_ends_in_the_fallback_or_mangos_scheme(
    aws: Any, mango: MangoApiSandbox
) -> None:
    rules = [
        {
            "name": "обращение",
            "conditions": [{"source": "crm", "field": "open_deals", "operator": "not_empty"}],
            "action": {"kind": "responsible", "fallback": "79990001122"},
        }
    ]
    mango.route_desk.rate_limit_seconds = 0.0
    routing = router(aws, mango, SlowCrm(), settings(mango, rules=rules), interval=0.05)
    call_id = appear(mango, "f1")
    mango.route_desk.close(call_id)  # the caller moved on in the scheme before the route went out
    sent_late = routing.handle(trigger("f1", call_id))
    assert sent_late.status == "sent"  # Mango takes the command (D110 p.28) …
    (posted,) = mango.route_desk.wait_results()
    assert posted["posted"] == ("result/route", {"command_id": sent_late.command_id, "result": 4101})
    gone = routing.result(TENANT, sent_late.command_id, 4101)  # … and says 4101 in result/route (p.29)
    assert gone is not None and gone.status == "left_ivr" and gone.result == 4101

    call_id = appear(mango, "f2")
    sent = routing.handle(trigger("f2", call_id))
    assert sent.target == "102"
    time.sleep(0.1)
    mango.route_desk.live[call_id].routed = None  # Mango reports the first target refused
    retried = routing.result(TENANT, sent.command_id, 3200)
    assert (retried.status, retried.target, retried.fallback_tried) == ("sent", "79990001122", True)
    assert [c["to_number"] for c in route_commands(mango)][-2:] == ["102", "79990001122"]
