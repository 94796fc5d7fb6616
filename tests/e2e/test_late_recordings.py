"""A recording Mango stores after the call record was written still reaches that record, once.

«Mango's own Bitrix app is known to deliver recordings up to 30 minutes late; a call record without
its recording is what users complain about most» (issue «Nothing lost, nothing misread», item 2).
Here `events/record/added` comes after the post-call work gave up waiting (10 + 20 minutes) and wrote
the record without it — an hour after the call — then again as Mango's retry.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sandbox.mango import player
from tests.e2e import bpmsoft_world, order_world, tenant_world
from tests.e2e.test_order_proof import _amo_register, _megaplan_register, _omnidesk_register

CRMS = ("amocrm", "megaplan", "omnidesk", "bpmsoft")
REQUEST_LOGS = {"requests", "faults", "config", "tokens"}


def _records_with(stack: dict[str, Any], kind: str, text: str) -> int:
    """How many records (notes, comments, messages, calls) the CRM holds that carry `text`."""
    base = stack["amocrm_url"] if kind == "amocrm" else stack["crm_urls"][kind]
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as crm:
        state = crm.get("/_sandbox/state").json()
    held = {
        k: v for k, v in state.items() if k not in REQUEST_LOGS
    }  # what the CRM holds, not what it was sent

    def count(value: Any) -> int:
        if isinstance(value, dict):
            strings = [v for v in value.values() if isinstance(v, str)]
            strings += [x for v in value.values() if isinstance(v, list) for x in v if isinstance(x, str)]
            own = any(text in v for v in strings)
            nested = sum(count(v) for v in value.values() if isinstance(v, dict | list))
            return max(1, nested) if own else nested
        if isinstance(value, list):
            return sum(count(v) for v in value)
        return 0

    return count(held)


def _register(stack: dict[str, Any], admin: httpx.Client, kind: str, tenant: str) -> None:
    if kind == "amocrm":
        demo = admin.get(f"/tenants/{stack['tenant_id']}/settings").json()["settings"]
        settings = {k: v for k, v in demo.items() if k not in ("mango", "crm", "employees")}
        _amo_register(settings)(stack, admin, tenant)
    elif kind == "megaplan":
        _megaplan_register(stack, admin, tenant)
    elif kind == "bpmsoft":
        bpmsoft_world.register(stack, admin, tenant, {"recordings": True})
    else:
        _omnidesk_register(stack, admin, tenant)


@pytest.mark.parametrize("kind", CRMS)
def test_a_recording_stored_an_hour_late_reaches_the_written_call_record_once(
    stack: dict[str, Any], admin: httpx.Client, kind: str
) -> None:
    tenant = f"late-rec-{kind[:4]}-{int(time.time()) % 100000}"
    _register(stack, admin, kind, tenant)
    number = order_world.fresh_numbers(1)[0]
    scenario = player.load_scenario("incoming-answered")
    scenario = scenario.model_copy(update={"vars": {**scenario.vars, "caller": number}})
    rendered = player.render(scenario, base_time=int(time.time()) - 3 * 3600, seed=int(time.time()))
    late = [d for d in rendered.deliveries if d.suffix == "events/record/added"]
    assert late, "the scenario stores its recording"
    tenant_world.register_recordings(stack, rendered.deliveries)
    tenant_world.deliver(stack, tenant, [d for d in rendered.deliveries if d not in late])
    order_world.wait_settled(stack, admin, tenant, rendered)
    link = f"/recordings/{tenant}/"
    assert _records_with(stack, kind, link) == 0, "written without the recording Mango had not stored"

    tenant_world.deliver(stack, tenant, late)
    order_world.wait_settled(stack, admin, tenant, rendered)
    assert _records_with(stack, kind, link) == 1

    tenant_world.deliver(stack, tenant, late)  # Mango's retry of the same notification
    order_world.wait_settled(stack, admin, tenant, rendered)
    assert _records_with(stack, kind, link) == 1
