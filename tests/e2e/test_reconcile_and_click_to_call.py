"""The nightly sync brings back calls whose webhooks never arrived and calls the CRM refused, exactly
once; a second run changes nothing. Click-to-call rings the employee, then the client, and the call is
logged like any outgoing call."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from mango_bridge.reconcile.stats import MOSCOW
from sandbox.mango import player
from tests.e2e.crm_world import held_for
from tests.e2e.tenant_world import call_detail, crm_status, deliver, eventually, register_recordings

DAY_START = int(datetime(2025, 10, 1, 0, 0, tzinfo=MOSCOW).timestamp())


def reconcile(stack: dict[str, Any], admin: httpx.Client, day: str) -> dict[str, Any]:
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = admin.post(f"/tenants/{stack['tenant_id']}/reconciliations", json={"day": day})
    assert started.status_code == 202, started.text

    def finished() -> dict[str, Any] | None:
        answer = admin.get(f"/tenants/{stack['tenant_id']}/reconciliations/{day}")
        body = answer.json() if answer.status_code == 200 else None
        return body if body and body.get("finished_at") and body["started_at"] >= started_at else None

    report = eventually(finished, timeout=120)
    assert report, "the reconciliation wrote no report"
    return report


def test_dropped_and_refused_calls_come_back_exactly_once(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    rendered = player.render(player.load_scenario("demo-day"), base_time=DAY_START, seed=2025)
    day = datetime.fromtimestamp(DAY_START, MOSCOW).date().isoformat()
    delivered, dropped = player.drop_calls(rendered, 0.1, seed=3)
    assert dropped
    with httpx.Client(trust_env=False) as http:
        player.record_history(http, stack["mango"]["api_url"], rendered.deliveries)  # Mango knows every call
    register_recordings(stack, rendered.deliveries)
    entries = list(rendered.entry_ids.values())
    refused = next(e for e in entries if e not in dropped)
    deliver(stack, stack["tenant_id"], [d for d in delivered if rendered.entry_ids[d.entry] != refused])
    for entry_id in entries:
        if entry_id not in dropped and entry_id != refused:
            assert eventually(
                lambda e=entry_id: crm_status(admin, stack["tenant_id"], e) == "done", timeout=120
            )
    amo.post("/_sandbox/faults", json={"outage": True}).raise_for_status()
    try:
        deliver(stack, stack["tenant_id"], [d for d in delivered if rendered.entry_ids[d.entry] == refused])
        assert eventually(lambda: crm_status(admin, stack["tenant_id"], refused) == "parked", timeout=120)
    finally:
        amo.delete("/_sandbox/faults")

    report = reconcile(stack, admin, day)
    assert report["found"] == len(entries)
    assert sorted(report["restored"]) == sorted(dropped)
    assert sorted(report["backfilled"]) == sorted([*dropped, refused])
    assert report["already_synced"] == len(entries) - len(dropped) - 1
    assert report["failed"] == []
    for entry_id in [*dropped, refused]:
        assert eventually(lambda e=entry_id: crm_status(admin, stack["tenant_id"], e) == "done", timeout=120)
        detail = call_detail(admin, stack["tenant_id"], entry_id)
        assert detail["status"] == "completed"

    time.sleep(2.2)  # Mango allows one statistics request per 2 s
    again = reconcile(stack, admin, day)
    assert (again["backfilled"], again["restored"], again["in_progress"]) == ([], [], [])
    assert again["already_synced"] == len(entries)


def test_click_to_call_with_wrong_revoked_and_right_tokens(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    url = stack["click_to_call"]["url"]
    number = f"7903{int(time.time()) % 10_000_000:07d}"
    body = {"from": {"crm_user_id": "8000002"}, "to_number": f"+{number}"}
    with httpx.Client(trust_env=False, timeout=30) as http:
        assert (
            http.post(url, json=body, headers={"authorization": "Bearer mct_demo.wrong"}).status_code == 401
        )
        issued = admin.post(
            f"/tenants/{stack['tenant_id']}/api-tokens", json={"label": "revoked soon"}
        ).json()
        admin.delete(f"/tenants/{stack['tenant_id']}/api-tokens/{issued['id']}").raise_for_status()
        revoked = http.post(url, json=body, headers={"authorization": f"Bearer {issued['token']}"})
        assert revoked.status_code == 401
        placed = http.post(
            url, json=body, headers={"authorization": f"Bearer {stack['click_to_call']['token']}"}
        )
        assert placed.status_code == 202, placed.text
        assert placed.json()["extension"] == "102"

    def logged() -> list[dict[str, Any]]:
        return [n for n in held_for(amo, number)["notes"] if n["note_type"] == "call_out"]

    notes = eventually(logged, timeout=120)
    assert len(notes) == 1 and notes[0]["responsible_user_id"] == 8000002
