"""Helpers for end-to-end tests that follow calls into the BPMSoft sandbox of the local stack: a tenant
of our own per set of settings, Mango scenarios posted to its ingest URL, and what BPMSoft ends up
holding for one customer number (contacts, accounts, leads, and the calls of Контакт-центр → Звонки)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from typing import Any
from urllib.parse import quote

import boto3
import httpx

from sandbox.crm.bpmsoft import CALL_DIRECTIONS, CALL_STATUSES, DEFAULT_LOGIN, DEFAULT_PASSWORD, sandbox_id
from sandbox.crm.bpmsoft.demo import NEED, STAGE
from sandbox.mango import player

NAMES = {
    "101": "Анна Смирнова",
    "102": "Борис Иванов",
    "103": "Вера Кузнецова",
    "106": "Мария Волкова",
    "200": "Ирина Дежурная",
    "201": "Олег Старший",
}
USER = {ext: sandbox_id(f"contact:e2e:{name}") for ext, name in NAMES.items()}
ROLES = {"101": ["Маркетинг"], "102": ["Продажи"]}
"""Functional roles of the BPMSoft users (what «Функциональная роль» of the rule table matches)."""
EMPLOYEES = [{"extension": ext, "crm_user_id": USER[ext], "name": name} for ext, name in NAMES.items()]
IVR_RESPONSIBLE, GROUP_RESPONSIBLE = USER["200"], USER["201"]
DIRECTION = {name: guid for guid, name in CALL_DIRECTIONS.items()}
STATUS = {guid: name for guid, name in CALL_STATUSES.items()}

GUIDE_SETTINGS: dict[str, Any] = {
    "new_number": {
        "answered_incoming": {
            "create": ["contact", "company", "lead"],
            "lead_need_type": NEED["Покупка продукта"],
            "lead_stage": "Квалификация",
        },
        "missed_incoming": {
            "create": ["lead"],
            "lead_need_type": NEED["Консультация"],
            "lead_stage": STAGE["Распределение"],
        },
    },
    "repeat_call": {
        "answered": {"create": "lead", "lead_need_type": NEED["Сервис"], "lead_stage": STAGE["Квалификация"]},
        "missed": {
            "create": "lead",
            "lead_need_type": NEED["Консультация"],
            "lead_stage": STAGE["Распределение"],
        },
    },
    "responsibles": {
        "missed_in_ivr": {"enabled": True, "crm_user_id": IVR_RESPONSIBLE},
        "missed_in_group": {"enabled": True, "crm_user_id": GROUP_RESPONSIBLE},
    },
    "call_tracking": True,
    "manual_entity_binding": True,
}
"""«Обработка звонков» set as the BPMSoft guide walks through it."""

MARKETING_RULES: list[dict[str, Any]] = [
    {"order": 1, "final": False},
    {
        "order": 2,
        "role": "Маркетинг",
        "direction": "incoming",
        "entity": "Контакт",
        "action": "load_linked_to_participants",
    },
    {"order": 3, "condition": "Нет найденных сущностей", "entity": "Контакт", "final": True},
    {"order": 4, "entity": "Обращение", "action": "create_entity"},
    {
        "order": 5,
        "condition": "Найдена как минимум одна сущность",
        "entity": "Контакт",
        "action": "bind_to_call",
    },
    {
        "order": 6,
        "condition": "Найдена как минимум одна сущность",
        "entity": "Контакт",
        "entity2": "Обращение",
        "action": "bind_entity_to_entity2",
    },
    {"order": 7, "entity": "Обращение", "action": "open_entity", "final": True},
]
"""The guide's example: an incoming call to marketing creates a case bound to the caller's contact."""

_numbers = itertools.count(1)


def fresh_number() -> str:
    return f"7915{int(time.time()) % 1000:03d}{next(_numbers):04d}"


def digits(number: Any) -> str:
    return "".join(ch for ch in str(number or "") if ch.isdigit())[-10:]


def bpmsoft(stack: dict[str, Any]) -> httpx.Client:
    """The BPMSoft sandbox's control endpoints."""
    return httpx.Client(base_url=stack["crm_urls"]["bpmsoft"], timeout=30, trust_env=False)


def register(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    settings: dict[str, Any],
    employees: list[dict[str, Any]] | None = None,
) -> str:
    """A tenant on the BPMSoft sandbox: the API user's secret in moto, the employees as BPMSoft users,
    then the settings through the admin API, as an operator connects BPMSoft."""
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
    with bpmsoft(stack) as bpm:
        known = {row["Id"] for row in bpm.get("/_sandbox/state").json()["Contact"]}
        users = [
            {"id": USER[ext], "name": n, "roles": ROLES.get(ext, [])}
            for ext, n in NAMES.items()
            if USER[ext] not in known
        ]
        if users:
            bpm.post("/_sandbox/seed", json={"users": users}).raise_for_status()
    body = {
        "mango": {"api_key": stack["mango"]["api_key"], "api_base_url": stack["mango"]["api_url"]},
        "mango_api_salt": stack["mango"]["api_salt"],
        "employees": employees or EMPLOYEES,
        "crm": {"kind": "bpmsoft", "url": stack["crm_urls"]["bpmsoft"], "credentials": {"secret_name": name}},
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


def call_detail(admin: httpx.Client, tenant: str, entry_id: str) -> dict[str, Any]:
    return admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}").json()


def landed(admin: httpx.Client, tenant: str, *played: player.Rendered, timeout: float = 120.0) -> None:
    """Waits until the post-call work of every call played is done."""
    deadline = time.monotonic() + timeout
    pending = {e for rendered in played for e in rendered.entry_ids.values()}
    while pending:
        pending = {
            e for e in pending if (call_detail(admin, tenant, e).get("crm") or {}).get("status") != "done"
        }
        if not pending:
            return
        if time.monotonic() > deadline:
            details = {e: call_detail(admin, tenant, e).get("crm") for e in pending}
            raise AssertionError(f"calls not done in {timeout} s: {details}")
        time.sleep(0.5)


def held_for(stack: dict[str, Any], number: str) -> dict[str, list[dict[str, Any]]]:
    """What BPMSoft holds for one customer number: its contacts, accounts, leads and calls."""
    with bpmsoft(stack) as bpm:
        state = bpm.get("/_sandbox/state").json()
    wanted = digits(number)

    def has(row: dict[str, Any], *columns: str) -> bool:
        return any(digits(row.get(c)) == wanted for c in columns)

    contacts = [c for c in state["Contact"] if has(c, "MobilePhone", "Phone")]
    accounts = [a for a in state["Account"] if has(a, "Phone")]
    ids = {row["Id"] for row in contacts + accounts}
    leads = [
        lead
        for lead in state["Lead"]
        if has(lead, "MobilePhone", "BusinesPhone")
        or {lead["QualifiedContactId"], lead["QualifiedAccountId"]} & ids
    ]
    calls = sorted(
        (c for c in state["Call"] if has(c, "CallerId", "CalledId")),
        key=lambda c: (c["StartDate"], c["CreatedOn"]),
    )
    return {"contacts": contacts, "accounts": accounts, "leads": leads, "calls": calls}
