"""Helpers for end-to-end tests that follow calls into the Megaplan sandbox of the local stack: a
tenant of our own per set of settings, Mango scenarios posted to its ingest URL, and what Megaplan ends
up holding for one customer number."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from typing import Any
from urllib.parse import quote

import boto3
import httpx

from sandbox.crm.megaplan import DEFAULT_LOGIN, DEFAULT_PASSWORD
from sandbox.mango import player

EMPLOYEES = [
    {"extension": "101", "crm_user_id": "8000001", "name": "Анна Смирнова"},
    {"extension": "102", "crm_user_id": "8000002", "name": "Борис Иванов"},
    {"extension": "103", "crm_user_id": "8000003", "name": "Вера Кузнецова"},
    {"extension": "104", "crm_user_id": "8000005", "name": "Ольга Орлова"},
    {"extension": "105", "crm_user_id": "8000006", "name": "Дмитрий Соколов"},
    {"extension": "106", "crm_user_id": "8000007", "name": "Мария Волкова"},
]
EXTRA_EMPLOYEES = [
    {"id": "8000005", "firstName": "Ольга", "lastName": "Орлова"},
    {"id": "8000006", "firstName": "Дмитрий", "lastName": "Соколов"},
    {"id": "8000007", "firstName": "Мария", "lastName": "Волкова"},
]
SALES, SERVICE = "9000001", "9000002"
NEW_REQUEST, NEGOTIATION, WON, LOST = "9100001", "9100002", "9100003", "9100004"
SERVICE_REQUEST = "9200001"

_numbers = itertools.count(1)


def fresh_number() -> str:
    return f"7926{int(time.time()) % 1000:03d}{next(_numbers):04d}"


def digits(number: Any) -> str:
    return "".join(ch for ch in str(number) if ch.isdigit())[-10:]


def megaplan(stack: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=stack["crm_urls"]["megaplan"], timeout=30, trust_env=False)


def register(stack: dict[str, Any], admin: httpx.Client, tenant: str, settings: dict[str, Any]) -> str:
    """A tenant on the Megaplan sandbox: its credentials secret in moto, then the settings via the admin
    API, exactly as an operator connects Megaplan."""
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=stack["moto_url"],
        region_name="eu-central-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    name = f"mango-bridge/local/tenants/{tenant}/crm"
    secret = json.dumps({"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD})
    try:
        secrets.create_secret(Name=name, SecretString=secret)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=secret)
    with megaplan(stack) as mp:
        mp.post("/_sandbox/seed", json={"employees": EXTRA_EMPLOYEES}).raise_for_status()
    body = {
        "mango": {"api_key": stack["mango"]["api_key"], "api_base_url": stack["mango"]["api_url"]},
        "mango_api_salt": stack["mango"]["api_salt"],
        "employees": EMPLOYEES,
        "crm": {
            "kind": "megaplan",
            "url": stack["crm_urls"]["megaplan"],
            "credentials": {"secret_name": name},
        },
        **settings,
    }
    response = admin.put(f"/tenants/{tenant}", json=body)
    assert response.status_code in (200, 201), response.text
    return tenant


def play(
    stack: dict[str, Any],
    tenant: str,
    name: str,
    caller: str,
    seed: int,
    *,
    var: str = "caller",
    tracking_number: str | None = None,
) -> player.Rendered:
    """One Mango scenario posted to the tenant's ingest URL; with `tracking_number`, every leg carries
    Mango's dynamic call-tracking block (`dct.type` 1)."""
    scenario = player.load_scenario(name)
    scenario.vars[var] = caller
    rendered = player.render(scenario, base_time=int(time.time()) - 3600, seed=seed)
    deliveries = player.reorder(rendered.deliveries, seed=seed)
    if tracking_number:
        deliveries = [_with_tracking(d, tracking_number) for d in deliveries]
    with httpx.Client(trust_env=False) as http:
        player.register_recordings(http, stack["mango"]["api_url"], player.ready_recording_ids(deliveries))
    statuses = player.post(
        deliveries,
        to_url=f"{stack['front_url']}/mango/{tenant}/",
        api_key=stack["mango"]["api_key"],
        api_salt=stack["mango"]["api_salt"],
    )
    assert set(statuses) == {200}
    return rendered


def _with_tracking(delivery: Any, number: str) -> Any:
    data = delivery.data
    if "dct" not in data:
        return delivery
    data["dct"] = {"type": 1, "number": number}
    return dataclasses.replace(delivery, json_text=json.dumps(data, ensure_ascii=False))


def crm_status(admin: httpx.Client, tenant: str, entry_id: str) -> str | None:
    body = admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}").json()
    return (body.get("crm") or {}).get("status")


def landed(admin: httpx.Client, tenant: str, rendered: player.Rendered, timeout: float = 90.0) -> None:
    """Waits until the post-call work of every call in `rendered` is done."""
    deadline = time.monotonic() + timeout
    pending = set(rendered.entry_ids.values())
    while pending:
        pending = {e for e in pending if crm_status(admin, tenant, e) != "done"}
        if not pending:
            return
        if time.monotonic() > deadline:
            details = {
                e: admin.get(f"/tenants/{tenant}/calls/{quote(e, safe='')}").json().get("crm")
                for e in pending
            }
            raise AssertionError(f"calls not done in Megaplan: {details}")
        time.sleep(0.4)


def held_for(stack: dict[str, Any], number: str) -> dict[str, Any]:
    """Everything the Megaplan sandbox holds for one customer number: its clients (with extra fields by
    the names Megaplan shows), their deals, the calls with this number and the comments on them."""
    with megaplan(stack) as mp:
        state = mp.get("/_sandbox/state").json()
    names = {f["name"]: f["hrName"] for f in state["extra_fields"]}
    clients = []
    for contractor in state["contractors"]:
        phones = [i["value"] for i in contractor.get("contactInfo", []) if i["type"] == "phone"]
        if any(digits(p) == digits(number) for p in phones):
            fields = {names[k]: v for k, v in contractor.items() if k in names}
            clients.append({**contractor, "fields": fields, "phones": phones})
    ids = {c["id"] for c in clients}
    deals = [d for d in state["deals"] if d.get("contractor") and d["contractor"]["id"] in ids]
    calls = [c for c in state["calls"] if digits(number) in (digits(c["fromPhone"]), digits(c["toPhone"]))]
    comments = [c for c in state["comments"] if c["subject"]["id"] in ids]
    return {"clients": clients, "deals": deals, "calls": calls, "comments": comments}


def seed_client(stack: dict[str, Any], number: str, **spec: Any) -> str:
    body = {
        "firstName": spec.pop("first_name", "Постоянный"),
        "lastName": spec.pop("last_name", "Клиент"),
        **spec,
    }
    body.setdefault("phones", [number])
    with megaplan(stack) as mp:
        answer = mp.post("/_sandbox/seed", json={"contractors": [body]})
    answer.raise_for_status()
    return answer.json()["contractors"][0]


def seed_deal(stack: dict[str, Any], client_id: str, state_id: str, program_id: str = SALES) -> str:
    with megaplan(stack) as mp:
        answer = mp.post(
            "/_sandbox/seed",
            json={"deals": [{"contractor_id": client_id, "program_id": program_id, "state_id": state_id}]},
        )
    answer.raise_for_status()
    return answer.json()["deals"][0]
