"""Helpers for end-to-end tests that follow calls into the BPMSoft sandbox of the local stack (playing
and waiting are `tenant_world`'s): a tenant of our own per set of settings, and what BPMSoft ends up
holding for one customer number (contacts, accounts, leads, and the calls of Контакт-центр → Звонки)."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.crm.bpmsoft import CALL_DIRECTIONS, CALL_STATUSES, DEFAULT_LOGIN, DEFAULT_PASSWORD, sandbox_id
from sandbox.crm.bpmsoft.demo import NEED, STAGE
from tests.e2e.tenant_world import digits, number_maker, register_tenant

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

fresh_number = number_maker("7915")


def bpmsoft(stack: dict[str, Any]) -> httpx.Client:
    """The BPMSoft sandbox's control endpoints."""
    return httpx.Client(base_url=stack["crm_urls"]["bpmsoft"], timeout=30, trust_env=False)


def seed_users(stack: dict[str, Any], users: list[dict[str, Any]]) -> None:
    """BPMSoft users (`id`, `name`, `roles`) the sandbox does not hold yet: the stack lives for the whole
    session and a user is seeded once."""
    with bpmsoft(stack) as bpm:
        known = {row["Id"] for row in bpm.get("/_sandbox/state").json()["Contact"]}
        new = [user for user in users if user["id"] not in known]
        if new:
            bpm.post("/_sandbox/seed", json={"users": new}).raise_for_status()


def register(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    settings: dict[str, Any],
    employees: list[dict[str, Any]] | None = None,
) -> str:
    """A tenant on the BPMSoft sandbox: the employees as BPMSoft users, the API user's secret in moto,
    then the settings through the admin API, as an operator connects BPMSoft."""
    seed_users(stack, [{"id": USER[ext], "name": n, "roles": ROLES.get(ext, [])} for ext, n in NAMES.items()])
    return register_tenant(
        stack,
        admin,
        tenant,
        kind="bpmsoft",
        credentials={"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD},
        employees=employees or EMPLOYEES,
        settings=settings,
    )


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
