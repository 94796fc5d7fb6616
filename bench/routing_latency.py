"""Smart routing latency: from the `Appeared` webhook received to `commands/route` sent (DESIGN §8).

The whole local stack runs in this process: Mango posts the IVR leg to the HTTP front, ingest
answers and invokes the route function asynchronously (moto's Lambda, dispatched to our handler in
a thread), the route function decides and sends `commands/route` to the Mango API sandbox. The
figure is the sandbox's receipt time of the command minus the moment the webhook POST started, so
the HTTP front, ingest, the asynchronous hand-over and every DynamoDB Local round trip are in it.

Cases: warm with a phone-cache hit (CRM sandbox at 0 ms, never asked), warm with a cache miss and
the CRM sandbox answering every request 300 ms late, and the first call of a fresh process per case
("cold": the route function's module loaded and its clients made on that call; the interpreter's own
imports are measured by `bench/cold_import.py`, whose `route` row adds to it).
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics
import time
from typing import Any

import httpx

from sandbox.mango import player
from sandbox.mango.scenario import load_scenario, render
from sandbox.stack.stack import DEMO_EMPLOYEES, LocalStack, Ports

BUDGET_HIT_MS = 300.0
BUDGET_LOOKUP_MS = 1000.0
_numbers = itertools.count(1)


def _register(stack: LocalStack, tenant: str) -> None:
    body = stack.connect_amocrm(tenant)
    body.update(
        {
            "mango": {"api_key": stack.mango_api_key, "api_base_url": stack.mango.url},
            "mango_api_salt": stack.mango_api_salt,
            "employees": DEMO_EMPLOYEES,
            "routing": {"route_to_responsible": True},
        }
    )
    with stack.admin() as admin:
        response = admin.put(f"/tenants/{tenant}", json=body)
    response.raise_for_status()


def _client(stack: LocalStack) -> str:
    number = f"7917{next(_numbers):07d}"
    stack.amocrm.seed(contacts=[{"name": "Клиент", "responsible_user_id": 8000002, "phones": [number]}])
    return number


def _one_call(stack: LocalStack, tenant: str, caller: str, http: httpx.Client, seed: int) -> float | None:
    """Milliseconds from the Appeared POST to the route command at Mango, or None if none came."""
    story = load_scenario("ivr-known-client")
    story.vars["caller"] = caller
    rendered = render(story, base_time=int(time.time()), seed=seed)
    appeared = rendered.deliveries[0]
    stack.mango.route_desk.announce(
        {
            "entry_id": appeared.data["entry_id"],
            "call_id": rendered.live_leg,
            "to_url": "http://127.0.0.1:9/",  # the routed call's playback is not measured
            "caller": caller,
            "line": appeared.data["to"]["line_number"],
        }
    )
    started = time.time()
    player.post(
        [appeared],
        to_url=stack.ingest_url(tenant),
        api_key=stack.mango_api_key,
        api_salt=stack.mango_api_salt,
        client=http,
    )
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for request in reversed(stack.mango.requests):
            if request.path == "commands/route" and (request.data or {}).get("call_id") == rendered.live_leg:
                return (request.at - started) * 1000
        time.sleep(0.002)
    return None


def _reset_limit(tenant: str) -> None:
    """Each sample is one caller; Mango's 2 s per product limit is not what is measured here."""
    from mango_bridge.store.table import client, table_name

    client("dynamodb").delete_item(
        TableName=table_name(), Key={"PK": {"S": f"ROUTELIMIT#{tenant}"}, "SK": {"S": "LIMIT"}}
    )


def _summary(samples: list[float | None], budget: float) -> dict[str, Any]:
    got = sorted(s for s in samples if s is not None)
    if not got:
        return {"samples": len(samples), "routed": 0}
    p99 = got[min(len(got) - 1, round(0.99 * (len(got) - 1)))]
    return {
        "samples": len(samples),
        "routed": len(got),
        "p50_ms": round(statistics.median(got), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(got[-1], 1),
        "budget_ms": budget,
        "p99_ratio_to_budget": round(p99 / budget, 2),
    }


def _case(crm_latency_ms: int, cache_hit: bool, samples: int) -> dict[str, Any]:
    """One fresh stack (so its first call is a cold one), then `samples` warm calls."""
    logging.getLogger().setLevel(logging.WARNING)
    stack = LocalStack(ports=Ports.free(), state_file=None).start()
    try:
        stack.issue_admin_token()
        stack.mango.route_desk.rate_limit_seconds = 0.0
        tenant = "bench-routing"
        _register(stack, tenant)
        callers = [_client(stack) for _ in range(samples + 1)]
        if crm_latency_ms:
            stack.amocrm.add_fault({"latency_ms": crm_latency_ms, "count": None})
        results: list[float | None] = []
        with httpx.Client(timeout=30, trust_env=False) as http:
            if cache_hit:  # the phone cache is warmed by a call from each number beforehand
                from mango_bridge.policy.facts import CrmFacts, FoundEntity
                from mango_bridge.store.phone_cache import PhoneCache

                for caller in callers:
                    found = FoundEntity(kind="contact", id="1", responsible_user_ids=("8000002",))
                    PhoneCache().put(tenant, CrmFacts(phone=f"+{caller}", found=(found,)))
            for index, caller in enumerate(callers):
                _reset_limit(tenant)
                results.append(_one_call(stack, tenant, caller, http, seed=index))
                time.sleep(0.05)
        return {
            "cold_first_call_ms": None if results[0] is None else round(results[0], 1),
            "warm": _summary(results[1:], BUDGET_HIT_MS if cache_hit else BUDGET_LOOKUP_MS),
        }
    finally:
        stack.stop()


def run(samples: int = 40) -> dict[str, Any]:
    return {
        "cache_hit_crm_0ms": _case(0, True, samples),
        "cache_miss_crm_0ms": _case(0, False, samples // 2),
        "cache_miss_crm_300ms": _case(300, False, samples // 2),
    }


def describe(result: dict[str, Any]) -> list[str]:
    lines = []
    labels = {
        "cache_hit_crm_0ms": f"cache hit (budget p99 ≤ {BUDGET_HIT_MS:.0f} ms warm)",
        "cache_miss_crm_0ms": "cache miss, CRM at 0 ms",
        "cache_miss_crm_300ms": f"cache miss, CRM at 300 ms (budget p99 ≤ {BUDGET_LOOKUP_MS:.0f} ms)",
    }
    for key, label in labels.items():
        case = result[key]
        warm = case["warm"]
        lines.append(
            f"   {label}: warm p50 {warm.get('p50_ms')} ms, p99 {warm.get('p99_ms')} ms "
            f"({warm.get('routed')}/{warm.get('samples')} routed); first call of a fresh process "
            f"{case['cold_first_call_ms']} ms"
        )
    return lines


if __name__ == "__main__":
    outcome = run()
    print(json.dumps(outcome, indent=2))
    print("\n".join(describe(outcome)))
