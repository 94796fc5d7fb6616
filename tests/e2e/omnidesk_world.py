"""Helpers for end-to-end tests that follow calls into the Omnidesk sandbox of the local stack: a tenant
of our own, Mango scenarios posted to its ingest URL one call at a time, and the cases Omnidesk ends up
holding for one customer number."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import yaml

from sandbox.crm.omnidesk import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL
from sandbox.mango import player
from sandbox.mango.scenario import Scenario
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e.tenant_world import digits, landed, number_maker, play, register_tenant

EMPLOYEES = DEMO_EMPLOYEES
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

_seeds = itertools.count(300)
fresh_number = number_maker("7917")


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
    with omnidesk(stack) as desk:
        desk.post("/_sandbox/seed", json={"staff": STAFF}).raise_for_status()
    return register_tenant(
        stack,
        admin,
        tenant,
        kind="omnidesk",
        credentials={"staff_email": DEFAULT_STAFF_EMAIL, "api_key": DEFAULT_API_KEY},
        employees=employees if employees is not None else EMPLOYEES,
        settings=settings,
    )


def call(
    stack: dict[str, Any], admin: httpx.Client, tenant: str, scenario: str | Scenario, **variables: Any
) -> player.Rendered:
    """Play one call, its notifications lightly reordered as Mango's parallel senders deliver them, and
    wait until it reached Omnidesk (the next call's facts must see this one's cases)."""
    rendered = play(stack, tenant, scenario, seed=next(_seeds), variables=variables, window=2)
    landed(admin, tenant, rendered, timeout=60.0)
    return rendered


def desk_state(stack: dict[str, Any]) -> dict[str, Any]:
    with omnidesk(stack) as desk:
        return desk.get("/_sandbox/state").json()


def held_for(stack: dict[str, Any], number: str) -> dict[str, list[dict[str, Any]]]:
    """The users with this number and their cases (oldest first, each with its messages)."""
    state = desk_state(stack)
    users = [u for u in state["users"] if digits(u["user_phone"], last=None) == digits(number, last=None)]
    ids = {u["user_id"] for u in users}
    return {"users": users, "cases": [c for c in state["cases"] if c["user_id"] in ids]}


def summary(case: dict[str, Any]) -> tuple[str, str, int, tuple[str, ...]]:
    """(subject, status, staff, labels): what the case list shows."""
    return (case["subject"], case["status"], case["staff_id"], tuple(case["label_titles"]))


def kinds_of_messages(case: dict[str, Any]) -> list[str]:
    """Each message as `user` (the caller's), `staff` (an employee's reply) or `note`."""
    return ["note" if m["note"] else "staff" if m["staff_id"] else "user" for m in case["messages"]]
