"""After the call, end to end: a website visitor calls the demo tenant's call-tracking number, talks,
is recorded and rates the call; the after-call sweep (the scheduled `enrich` function, invoked as the
scheduler would) brings topics, the transcript and the score into amoCRM next to the call-tracking
data, and the operator sees each job's outcome on the call."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from sandbox.mango import player
from tests.e2e.crm_world import fresh_number, held_for
from tests.e2e.tenant_world import aws, call_detail, crm_status, deliver, eventually, register_recordings


def _play_tracked_call(stack: dict[str, Any], admin: httpx.Client, caller: str) -> str:
    """The first notification alone, as on a real line (the visitor is looked up while the number is
    still bound to them, during the call), then the rest of the call."""
    scenario = player.load_scenario("incoming-tracked")
    scenario.vars["caller"] = caller
    rendered = player.render(scenario, base_time=int(time.time()) - 3600, seed=int(caller[-6:]))
    deliveries = rendered.deliveries
    entry_id = str(deliveries[0].data["entry_id"])
    tenant = stack["tenant_id"]
    register_recordings(stack, deliveries)
    deliver(stack, tenant, deliveries[:1])
    assert eventually(lambda: call_detail(admin, tenant, entry_id)["after_call"]["visitor"], timeout=30)
    deliver(stack, tenant, deliveries[1:])
    return entry_id


def _sweep(stack: dict[str, Any]) -> dict[str, Any]:
    answer = aws(stack, "lambda").invoke(FunctionName="mango-bridge-local-enrich", Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())


def test_topics_transcript_score_and_call_tracking_reach_amocrm(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    caller = fresh_number()
    entry_id = _play_tracked_call(stack, admin, caller)
    tenant = stack["tenant_id"]
    assert eventually(lambda: crm_status(admin, tenant, entry_id) == "done")
    with httpx.Client(trust_env=False) as http:
        root = stack["mango"]["api_url"].split("/vpbx/")[0]
        http.post(f"{root}/_sandbox/analytics", json={"ratings": {entry_id: 8}}).raise_for_status()

    report = _sweep(stack)
    assert report["written"] >= 2

    held = held_for(amo, caller)
    [contact] = held["contacts"]
    [deal] = held["leads"]

    def notes_on_deal() -> str:
        return "\n".join(
            str((n.get("params") or {}).get("text"))
            for n in amo.get("/_sandbox/state").json()["notes"]
            if n.get("note_type") == "common" and n.get("entity_id") == deal["id"]
        )

    text = notes_on_deal()
    assert "Коллтрекинг: звонок на динамический номер 74993330101" in text
    assert "utm_campaign: zimnyaya-rasprodazha" in text and "Город (или код страны): Подольск" in text
    assert "Речевая аналитика — тематики: Сотрудник поздоровался, Клиент спросил о цене" in text
    assert "Текст разговора (Речевая аналитика):\nСотрудник: Здравствуйте" in text
    assert "Оценка качества (постзвонковая оценка клиента): 8 из 10" in text
    assert contact["id"]
    detail = call_detail(admin, tenant, entry_id)
    jobs = {job["kind"]: job for job in detail["after_call"]["jobs"]}
    assert jobs["analytics"]["status"] == "done" and jobs["rating"]["status"] == "done"
    assert detail["after_call"]["visitor"]["utm_source"] == "yandex"
    _sweep(stack)  # the scheduler runs again: nothing is written twice
    assert notes_on_deal() == text
    again = call_detail(admin, tenant, entry_id)["after_call"]["jobs"]
    assert [j["status"] for j in again] == [j["status"] for j in detail["after_call"]["jobs"]]
