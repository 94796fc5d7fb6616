"""Helpers for end-to-end routing tests: a tenant of its own on the amoCRM sandbox, clients seeded
there, calls played live through the greeting, and what routing recorded."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx

from mango_bridge.store.routes import RouteRecord, RouteStore
from sandbox.crm.amocrm.seeding import KNOWN_CLIENT_STATUS_ID
from sandbox.mango import player
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e import tenant_world
from tests.e2e.tenant_world import aws, deliver, ingest_url, number_maker

MAIN_PIPELINE_ID = 9_000_001
_tenants = itertools.count(1)
fresh_number = number_maker("7915")


def fresh_tenant(prefix: str) -> str:
    return f"{prefix}-{int(time.time()) % 100000}-{next(_tenants)}"


def register_tenant(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client, tenant: str, **settings: Any
) -> None:
    """A tenant on the amoCRM sandbox (long-lived token in Secrets Manager) with these settings."""
    new_numbers = {"answered_incoming": {"create": ["contact"]}, "missed_incoming": {"create": ["contact"]}}
    tenant_world.register_amocrm_tenant(
        stack, admin, tenant, employees=DEMO_EMPLOYEES, settings={"new_number": new_numbers, **settings}
    )


def seed_client(
    amo: httpx.Client, number: str, responsible: int, *, open_deal: bool = False, tags: list[str] = ()
) -> int:
    contact: dict[str, Any] = {
        "name": f"Клиент {number[-4:]}",
        "responsible_user_id": responsible,
        "phones": [number],
    }
    if tags:
        contact["_embedded"] = {"tags": [{"name": tag} for tag in tags]}
    created = amo.post("/_sandbox/seed", json={"contacts": [contact]}).json()
    contact_id = created["contacts"][0]
    if open_deal:
        amo.post(
            "/_sandbox/seed",
            json={
                "leads": [
                    {
                        "name": "Обращение в поддержку",
                        "pipeline_id": MAIN_PIPELINE_ID,
                        "status_id": KNOWN_CLIENT_STATUS_ID,
                        "responsible_user_id": responsible,
                        "contact_ids": [contact_id],
                    }
                ]
            },
        )
    return contact_id


def mango(stack: dict[str, Any]) -> httpx.Client:
    root = stack["mango"]["api_url"].rstrip("/").removesuffix("vpbx")
    return httpx.Client(base_url=root, timeout=30, trust_env=False)


def play(
    stack: dict[str, Any],
    tenant: str,
    scenario: str,
    caller: str,
    *,
    seed: int,
    window: float = 5.0,
    **kwargs: Any,
) -> player.LivePlay:
    story = player.load_scenario(scenario)
    story.vars["caller"] = caller
    rendered = player.render(story, base_time=int(time.time()), seed=seed)
    return player.play_live(
        rendered,
        to_url=ingest_url(stack, tenant),
        api_key=stack["mango"]["api_key"],
        api_salt=stack["mango"]["api_salt"],
        mango_api_url=stack["mango"]["api_url"],
        window_seconds=window,
        **kwargs,
    )


def route_record(
    stack: dict[str, Any], tenant: str, entry_id: str, *, settle: float = 10.0
) -> RouteRecord | None:
    """What routing recorded for the call, once it stopped deciding."""
    store = RouteStore(aws(stack, "dynamodb"), stack["dynamodb"]["table"])
    deadline = time.monotonic() + settle
    while True:
        record = store.get(tenant, entry_id)
        if (record is not None and record.status not in ("deciding", "sent")) or time.monotonic() > deadline:
            return record
        time.sleep(0.2)


def routes_for(stack: dict[str, Any], call_id: str) -> list[dict[str, Any]]:
    """Every `commands/route` the Mango sandbox received for one leg, with what it answered."""
    with mango(stack) as client:
        state = client.get("/_sandbox/routing").json()
    return [r for r in state["routes"] if r["command"].get("call_id") == call_id]


def configure_pbx(stack: dict[str, Any], **config: Any) -> None:
    with mango(stack) as client:
        client.post("/_sandbox/routing", json=config).raise_for_status()


def employee_talks(stack: dict[str, Any], tenant: str, extension: str) -> None:
    """Mango reports an employee's leg as connected (another call they are on right now)."""
    suffix = f"{int(time.time() * 1000)}"
    leg = {
        "entry_id": f"MTo{suffix}/talk==",
        "call_id": f"MTo{suffix}/leg+1==",
        "timestamp": int(time.time()),
        "seq": 1,
        "call_state": "Connected",
        "location": "abonent",
        "from": {"number": "79160000000"},
        "to": {"extension": extension, "number": f"sip:{extension}@vpbx400000001.mangosip.ru"},
    }
    deliver(stack, tenant, [player.Delivery("events/call", json.dumps(leg), "talk", 0)])


def wait_for_route_slot() -> None:
    """Mango allows one route per 2 s per product, and every test tenant shares the sandbox PBX."""
    time.sleep(2.1)
