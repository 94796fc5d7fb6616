"""Helpers for end-to-end tests that follow calls into the Megaplan sandbox of the local stack (playing
and waiting are `tenant_world`'s): a tenant of our own per set of settings, and what Megaplan ends up
holding for one customer number."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.crm.megaplan import DEFAULT_LOGIN, DEFAULT_PASSWORD
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e.tenant_world import digits, number_maker, register_tenant

EMPLOYEES = DEMO_EMPLOYEES
EXTRA_EMPLOYEES = [
    {"id": "8000005", "firstName": "Ольга", "lastName": "Орлова"},
    {"id": "8000006", "firstName": "Дмитрий", "lastName": "Соколов"},
    {"id": "8000007", "firstName": "Мария", "lastName": "Волкова"},
]
SALES, SERVICE = "9000001", "9000002"
NEW_REQUEST, NEGOTIATION, WON, LOST = "9100001", "9100002", "9100003", "9100004"
SERVICE_REQUEST = "9200001"

fresh_number = number_maker("7926")


def megaplan(stack: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=stack["crm_urls"]["megaplan"], timeout=30, trust_env=False)


def register(stack: dict[str, Any], admin: httpx.Client, tenant: str, settings: dict[str, Any]) -> str:
    """A tenant on the Megaplan sandbox: the employees Megaplan lacks seeded, its credentials secret in
    moto, then the settings via the admin API, exactly as an operator connects Megaplan."""
    with megaplan(stack) as mp:
        mp.post("/_sandbox/seed", json={"employees": EXTRA_EMPLOYEES}).raise_for_status()
    return register_tenant(
        stack,
        admin,
        tenant,
        kind="megaplan",
        credentials={"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD},
        employees=EMPLOYEES,
        settings=settings,
    )


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
    subjects = ids | {d["id"] for d in deals}
    comments = [c for c in state["comments"] if c["subject"]["id"] in subjects]
    call_ids = {c["id"] for c in calls}
    widget = [e for e in state["widget_events"] if e["call"] in call_ids]
    return {
        "clients": clients,
        "deals": deals,
        "calls": calls,
        "comments": comments,
        "widget_events": widget,
    }


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


def move_deal(stack: dict[str, Any], deal_id: str, state_id: str) -> None:
    """What an employee does in Megaplan between two calls: moves a deal along its program."""
    with megaplan(stack) as mp:
        token = mp.post("/_sandbox/tokens").json()["access_token"]
        mp.headers["Authorization"] = f"Bearer {token}"
        deal = mp.get(f"/api/v3/deal/{deal_id}").json()["data"]
        (step,) = [t for t in deal["possibleTransitions"] if t["stateTo"]["id"] == state_id]
        mp.post(f"/api/v3/deal/{deal_id}/applyTransition", json={"transition": step}).raise_for_status()
