"""`make run` with BPMSoft: connect the demo tenant to the BPMSoft sandbox, and print what it holds.

The settings are those the BPMSoft guide walks through: «От нового клиента» creates a contact, an
account and a lead (need type and stage for answered and missed calls), «При повторном звонке →
Создать лид», the responsibles for calls missed in the IVR and in a group, call tracking, the
post-call score, speech-analytics topics and texts, and manual binding.
"""

from __future__ import annotations

from typing import Any

from sandbox.crm.bpmsoft.schema import (
    CALL_DIRECTIONS,
    CALL_STATUSES,
    LEAD_TYPES,
    QUALIFY_STATUSES,
    sandbox_id,
)
from sandbox.crm.bpmsoft.server import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmSoftSandbox

NEED = {name: guid for guid, name in LEAD_TYPES.items()}
STAGE = {name: guid for guid, (name, _, _) in QUALIFY_STATUSES.items()}


def user_id(name: str) -> str:
    """The BPMSoft contact of a demo employee (responsibles in BPMSoft are contacts)."""
    return sandbox_id(f"contact:{name}")


def employees(demo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo's extensions mapped to the sandbox's users instead of the amoCRM ids."""
    return [{**e, "crm_user_id": user_id(e["name"])} for e in demo]


def recommended(users: list[dict[str, Any]]) -> dict[str, Any]:
    """The guide's settings, with the first two employees as the IVR and group responsibles."""
    first, second = users[0]["crm_user_id"], users[1]["crm_user_id"]
    answered = {"lead_need_type": NEED["Покупка продукта"], "lead_stage": STAGE["Квалификация"]}
    missed = {"lead_need_type": NEED["Консультация"], "lead_stage": STAGE["Распределение"]}
    return {
        "new_number": {
            "answered_incoming": {"create": ["contact", "company", "lead"], **answered},
            "missed_incoming": {"create": ["lead"], **missed},
        },
        "repeat_call": {
            "answered": {"create": "lead", **answered},
            "missed": {"create": "lead", **missed},
        },
        "responsibles": {
            "missed_in_ivr": {"enabled": True, "crm_user_id": first},
            "missed_in_group": {"enabled": True, "crm_user_id": second},
        },
        "call_tracking": True,
        "quality_score": True,
        "speech_analytics": {
            "topics_enabled": True,
            "topics": ["Сотрудник поздоровался", "Сотрудник упомянул акции", "Клиент отказался от покупки"],
            "texts_enabled": True,
        },
        "manual_entity_binding": True,
    }


def connect(stack: Any, tenant_id: str) -> dict[str, Any]:
    """The credentials secret, the demo employees as BPMSoft users, and the settings fragment."""
    from sandbox.crm.demo_secret import store_crm_credentials
    from sandbox.stack.stack import DEMO_EMPLOYEES

    sandbox: BpmSoftSandbox = stack.crm_sandboxes["bpmsoft"]
    users = employees(DEMO_EMPLOYEES)
    existing = {row["Id"] for row in sandbox.rows("Contact")}
    sandbox.seed(
        users=[{"id": u["crm_user_id"], "name": u["name"]} for u in users if u["crm_user_id"] not in existing]
    )
    secret = store_crm_credentials(tenant_id, {"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD})
    return {
        "crm": {"kind": "bpmsoft", "url": sandbox.url, "credentials": {"secret_name": secret}},
        "employees": users,
        **recommended(users),
    }


def render(state: dict[str, Any]) -> str:
    """Контакт-центр → Звонки and the records the calls created, as short tables."""
    names = {
        row["Id"]: row.get("Name") or row.get("LeadName")
        for t in ("Contact", "Account", "Lead")
        for row in state.get(t, [])
    }
    statuses = {**CALL_STATUSES, **{row["Id"]: row["Name"] for row in state.get("UsrMcbCallStatus", [])}}
    lines = ["Звонки (Контакт-центр):"]
    lines.append(
        f"  {'Начало':20} {'Направление':11} {'Статус':18} {'От':14} {'Кому':14} {'Сек':>4}  Контакт / Контрагент / Лид"
    )
    for call in sorted(state.get("Call", []), key=lambda c: c.get("StartDate") or ""):
        linked = " / ".join(str(names.get(call.get(c)) or "—") for c in ("ContactId", "AccountId", "LeadId"))
        lines.append(
            f"  {call.get('StartDate') or '':20} {CALL_DIRECTIONS.get(call.get('DirectionId') or '', '?'):11} "
            f"{statuses.get(call.get('UsrMcbCallStatusId') or '', '—'):18} {call.get('CallerId') or '':14} "
            f"{call.get('CalledId') or '':14} {call.get('Duration') or 0:>4}  {linked}"
            + ("  ▶ запись" if call.get("UsrMcbRecordLinks") else "")
        )
    for table, title, column in (
        ("Contact", "Контакты", "Name"),
        ("Account", "Контрагенты", "Name"),
        ("Lead", "Лиды", "LeadName"),
    ):
        rows = [
            r
            for r in state.get(table, [])
            if r.get("CreatedById") and (table != "Contact" or r.get("MobilePhone") or r.get("Phone"))
        ]
        lines.append(f"{title}: {len(rows)}")
        for row in rows:
            owner = names.get(row.get("OwnerId")) or row.get("OwnerId") or "—"
            phone = row.get("MobilePhone") or row.get("Phone") or row.get("BusinesPhone") or ""
            lines.append(f"  {row.get(column)}  {phone}  ответственный: {owner}")
    return "\n".join(lines)
