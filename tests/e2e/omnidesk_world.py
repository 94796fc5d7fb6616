"""Helpers for end-to-end tests that follow calls into the Omnidesk sandbox of the local stack: a tenant
of our own, Mango scenarios posted to its ingest URL one call at a time, and the cases Omnidesk ends up
holding for one customer number."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import yaml

from sandbox.crm.omnidesk import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL
from sandbox.mango import player
from sandbox.mango.scenario import Scenario

EMPLOYEES = [
    {"extension": "101", "crm_user_id": "8000001", "name": "Анна Смирнова"},
    {"extension": "102", "crm_user_id": "8000002", "name": "Борис Иванов"},
    {"extension": "103", "crm_user_id": "8000003", "name": "Вера Кузнецова"},
    {"extension": "104", "crm_user_id": "8000005", "name": "Ольга Орлова"},
    {"extension": "105", "crm_user_id": "8000006", "name": "Дмитрий Соколов"},
    {"extension": "106", "crm_user_id": "8000007", "name": "Мария Волкова"},
]
STAFF = [
    {
        "staff_id": int(e["crm_user_id"]),
        "staff_email": f"staff{e['crm_user_id']}@demo.omnidesk.ru",
        "name": e["name"],
    }
    for e in EMPLOYEES
]
STAFF_ID = {e["extension"]: int(e["crm_user_id"]) for e in EMPLOYEES}

MISSED_AT_EMPLOYEE = Scenario.model_validate(
    yaml.safe_load(
        """
name: missed-at-employee
description: The caller is put straight through to employee 102, who does not answer for 25 s.
vars: {caller: "79161110002", line: "74951234567", op: "102", op_number: "sip:sidorova@demo.mangosip.ru"}
x-parties:
  customer: &customer {number: $caller}
  operator: &operator {extension: $op, number: $op_number, line_number: $line}
steps:
  - {t: 0, event: events/call, data: {call_id: "@leg", call_state: Appeared, location: abonent, from: *customer, to: *operator}}
  - {t: 25, event: events/call, data: {call_id: "@leg", call_state: Disconnected, location: abonent, from: *customer, to: *operator, disconnect_reason: 1110}}
  - t: 26
    event: events/summary
    data: {call_direction: 1, from: *customer, to: {extension: $op, number: $op_number}, line_number: $line,
           create_time: T, forward_time: 0, talk_time: 0, end_time: T+25, entry_result: 0, disconnect_reason: 1110}
"""
    )
)
OUTGOING_NOT_REACHED = Scenario.model_validate(
    yaml.safe_load(
        """
name: outgoing-not-reached
description: Employee 101 dials the customer from the softphone; nobody answers for 30 s.
vars: {customer: "79037654321", line: "74951234567", op: "101"}
x-parties:
  operator: &operator {extension: $op}
  customer: &customer {number: $customer}
steps:
  - {t: 0, event: events/call, data: {call_id: "@leg", location: abonent, call_state: Appeared, from: *operator, to: *customer}}
  - {t: 30, event: events/call, data: {call_id: "@leg", location: abonent, call_state: Disconnected, from: *operator, to: *customer, disconnect_reason: 1110}}
  - t: 31
    event: events/summary
    data: {call_direction: 2, from: *operator, to: *customer, line_number: $line,
           create_time: T, forward_time: T, talk_time: 0, end_time: T+30, entry_result: 0, disconnect_reason: 1110}
"""
    )
)

_numbers = itertools.count(1)
_seeds = itertools.count(300)


def fresh_number() -> str:
    return f"7917{int(time.time()) % 1000:03d}{next(_numbers):04d}"


def digits(number: Any) -> str:
    return "".join(ch for ch in str(number) if ch.isdigit())


def omnidesk(stack: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=stack["crm_urls"]["omnidesk"], timeout=30, trust_env=False)


def register(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    *,
    employees: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> str:
    """A tenant on the Omnidesk sandbox: the staff seeded, the API login in moto's Secrets Manager, then
    the settings through the admin API, as an operator connects Omnidesk."""
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=stack["moto_url"],
        region_name="eu-central-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    name = f"mango-bridge/local/tenants/{tenant}/crm"
    secret = json.dumps({"staff_email": DEFAULT_STAFF_EMAIL, "api_key": DEFAULT_API_KEY})
    try:
        secrets.create_secret(Name=name, SecretString=secret)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=secret)
    with omnidesk(stack) as desk:
        desk.post("/_sandbox/seed", json={"staff": STAFF}).raise_for_status()
    body = {
        "mango": {"api_key": stack["mango"]["api_key"], "api_base_url": stack["mango"]["api_url"]},
        "mango_api_salt": stack["mango"]["api_salt"],
        "employees": employees if employees is not None else EMPLOYEES,
        "crm": {
            "kind": "omnidesk",
            "url": stack["crm_urls"]["omnidesk"],
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
    scenario: str | Scenario,
    *,
    base_time: int | None = None,
    **variables: Any,
) -> player.Rendered:
    """One Mango scenario (a bundled name or a story) posted to the tenant's ingest URL, its
    notifications lightly reordered as Mango's parallel senders deliver them."""
    loaded = player.load_scenario(scenario) if isinstance(scenario, str) else scenario
    loaded = loaded.model_copy(update={"vars": {**loaded.vars, **variables}})
    seed = next(_seeds)
    rendered = player.render(loaded, base_time=base_time or int(time.time()) - 3600, seed=seed)
    deliveries = player.reorder(rendered.deliveries, seed=seed, window=2)
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


def call_detail(admin: httpx.Client, tenant: str, entry_id: str) -> dict[str, Any]:
    return admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}").json()


def landed(admin: httpx.Client, tenant: str, rendered: player.Rendered, timeout: float = 60.0) -> None:
    """Waits until the post-call work of every call in `rendered` is done (the next call's facts must
    see this one's cases, as they would minutes later in real life)."""
    wait_for(admin, tenant, set(rendered.entry_ids.values()), timeout)


def wait_for(admin: httpx.Client, tenant: str, entry_ids: set[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(entry_ids)
    while pending:
        pending = {
            e for e in pending if (call_detail(admin, tenant, e).get("crm") or {}).get("status") != "done"
        }
        if not pending:
            return
        if time.monotonic() > deadline:
            details = {e: call_detail(admin, tenant, e).get("crm") for e in pending}
            raise AssertionError(f"calls not done in {timeout} s: {details}")
        time.sleep(0.3)


def call(
    stack: dict[str, Any], admin: httpx.Client, tenant: str, scenario: str | Scenario, **variables: Any
) -> player.Rendered:
    """Play one call and wait until it reached Omnidesk."""
    rendered = play(stack, tenant, scenario, **variables)
    landed(admin, tenant, rendered)
    return rendered


def desk_state(stack: dict[str, Any]) -> dict[str, Any]:
    with omnidesk(stack) as desk:
        return desk.get("/_sandbox/state").json()


def held_for(stack: dict[str, Any], number: str) -> dict[str, list[dict[str, Any]]]:
    """The users with this number and their cases (oldest first, each with its messages)."""
    state = desk_state(stack)
    users = [u for u in state["users"] if digits(u["user_phone"]) == digits(number)]
    ids = {u["user_id"] for u in users}
    return {"users": users, "cases": [c for c in state["cases"] if c["user_id"] in ids]}


def summary(case: dict[str, Any]) -> tuple[str, str, int, tuple[str, ...]]:
    """(subject, status, staff, labels): what the case list shows."""
    return (case["subject"], case["status"], case["staff_id"], tuple(case["label_titles"]))


def kinds_of_messages(case: dict[str, Any]) -> list[str]:
    """Each message as `user` (the caller's), `staff` (an employee's reply) or `note`."""
    return ["note" if m["note"] else "staff" if m["staff_id"] else "user" for m in case["messages"]]
