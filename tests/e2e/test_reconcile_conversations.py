"""The nightly sync catches a conversation, not only a call: a blind transfer reached amoCRM with its
first employee's record, but the webhooks of the leg the customer was transferred to never arrived.
Mango's statistics show that leg; the sync rebuilds it and the second call record is written — once.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from mango_bridge.reconcile.stats import MOSCOW
from sandbox.mango import player
from tests.e2e.crm_world import fresh_number, held_for
from tests.e2e.tenant_world import crm_status, deliver, eventually, register_recordings
from tests.e2e.test_reconcile_and_click_to_call import reconcile

DAY_START = int(datetime(2025, 9, 17, 11, 0, tzinfo=MOSCOW).timestamp())


def test_a_transferred_conversation_whose_webhooks_were_lost_is_written_by_the_nightly_sync(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    caller = fresh_number()
    scenario = player.load_scenario("blind-transfer")
    scenario = scenario.model_copy(update={"vars": {**scenario.vars, "caller": caller}})
    rendered = player.render(scenario, base_time=DAY_START, seed=917)
    target_leg = rendered.ids["b"]
    lost = [d for d in rendered.deliveries if d.suffix == "events/call" and d.data["call_id"] == target_leg]
    assert lost
    with httpx.Client(trust_env=False) as http:
        player.record_history(http, stack["mango"]["api_url"], rendered.deliveries)  # Mango knows both legs
    register_recordings(stack, rendered.deliveries)
    deliver(stack, stack["tenant_id"], [d for d in rendered.deliveries if d not in lost])
    entry_id = next(iter(rendered.entry_ids.values()))
    assert eventually(lambda: crm_status(admin, stack["tenant_id"], entry_id) == "done", timeout=120)
    assert [n["responsible_user_id"] for n in held_for(amo, caller)["notes"]] == [8000001]  # only 101's

    day = datetime.fromtimestamp(DAY_START, MOSCOW).date().isoformat()
    report = reconcile(stack, admin, day)
    assert report["conversations_restored"] == [entry_id]

    def both_written() -> list[int]:
        notes = sorted(n["responsible_user_id"] for n in held_for(amo, caller)["notes"])
        return notes if notes == [8000001, 8000003] else []

    assert eventually(both_written, timeout=120), held_for(amo, caller)["notes"]

    time.sleep(2.2)  # Mango allows one statistics request per 2 s
    again = reconcile(stack, admin, day)
    assert again["conversations_restored"] == []
    time.sleep(1)
    assert sorted(n["responsible_user_id"] for n in held_for(amo, caller)["notes"]) == [8000001, 8000003]


RECORD_DAY_START = int(datetime(2025, 9, 18, 12, 0, tzinfo=MOSCOW).timestamp())


def test_a_call_record_deleted_in_the_crm_is_written_again_by_the_nightly_sync(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    """Seed 000, F30: «Имеющиеся звонки … будут сверяться со звонками в ВАТС» — with what the CRM holds,
    not with our own journal: a call note someone deleted comes back, once."""
    caller = fresh_number()
    scenario = player.load_scenario("incoming-answered")
    scenario = scenario.model_copy(update={"vars": {**scenario.vars, "caller": caller}})
    rendered = player.render(scenario, base_time=RECORD_DAY_START, seed=918)
    with httpx.Client(trust_env=False) as http:
        player.record_history(http, stack["mango"]["api_url"], rendered.deliveries)
    register_recordings(stack, rendered.deliveries)
    deliver(stack, stack["tenant_id"], rendered.deliveries)
    entry_id = next(iter(rendered.entry_ids.values()))
    assert eventually(lambda: crm_status(admin, stack["tenant_id"], entry_id) == "done", timeout=120)
    notes = held_for(amo, caller)["notes"]
    assert len(notes) == 1
    amo.post("/_sandbox/delete-notes", json={"ids": [notes[0]["id"]]}).raise_for_status()
    assert held_for(amo, caller)["notes"] == []

    day = datetime.fromtimestamp(RECORD_DAY_START, MOSCOW).date().isoformat()
    report = reconcile(stack, admin, day)
    assert report["records_restored"] == [entry_id]
    assert eventually(lambda: len(held_for(amo, caller)["notes"]) == 1, timeout=120)
    contacts = held_for(amo, caller)["contacts"]
    assert len(contacts) == 1, "only the call record is written again, not the client"

    time.sleep(2.2)  # Mango allows one statistics request per 2 s
    again = reconcile(stack, admin, day)
    assert again["records_restored"] == []
    time.sleep(1)
    assert len(held_for(amo, caller)["notes"]) == 1
