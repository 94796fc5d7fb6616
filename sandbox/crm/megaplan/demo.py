"""`make run --crm megaplan`: connect the demo tenant to the Megaplan sandbox the way seed 004 recommends,
and print what Megaplan holds after the demo day."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.crm.demo_secret import store_crm_credentials
from sandbox.crm.megaplan.server import DEFAULT_LOGIN, DEFAULT_PASSWORD

DEMO_EMPLOYEES = [
    {"id": "8000005", "firstName": "Ольга", "lastName": "Орлова"},
    {"id": "8000006", "firstName": "Дмитрий", "lastName": "Соколов"},
    {"id": "8000007", "firstName": "Мария", "lastName": "Волкова"},
]
"""8000001–8000003 (Анна, Борис, Вера) are the sandbox's own; these complete the demo's extensions."""

SETTINGS: dict[str, Any] = {
    "new_number": {
        "answered_incoming": {
            "create": ["contact", "deal"],
            "deal_program": "9000001",
            "deal_status": "9100001",
        },
        "missed_incoming": {"create": ["contact"]},
        "outgoing": {"create": ["contact"]},
    },
    "repeat_call": {
        "answered": {
            "create": "deal",
            "when": "if_no_open",
            "deal_program": "9000001",
            "deal_status": "9100001",
        }
    },
    "responsibles": {
        "missed_in_ivr": {"enabled": True, "crm_user_id": "8000001"},
        "missed_in_group": {"enabled": True, "crm_user_id": "8000002"},
    },
    "source_line": True,
    "call_tracking": True,
}


def _url(stack: Any) -> str:
    sandboxes = getattr(stack, "crm_sandboxes", None)
    if sandboxes is not None:
        return sandboxes["megaplan"].url
    return stack["crm_urls"]["megaplan"]


def connect(stack: Any, tenant_id: str) -> dict[str, Any]:
    """The credentials secret, the demo employees in the sandbox, and the tenant's settings fragment."""
    url = _url(stack)
    name = store_crm_credentials(tenant_id, {"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD})
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        http.post("/_sandbox/seed", json={"employees": DEMO_EMPLOYEES}).raise_for_status()
    return {"crm": {"kind": "megaplan", "url": url, "credentials": {"secret_name": name}}, **SETTINGS}


def render(state: dict[str, Any]) -> str:
    """Clients with their responsibles, deals and calls, as a short table."""
    employees = {e["id"]: e["name"] for e in state.get("employees", [])}
    fields = {f["name"]: f["hrName"] for f in state.get("extra_fields", [])}
    lines = ["Мегаплан: клиенты"]
    for client in state.get("contractors", []):
        phones = ", ".join(i["value"] for i in client.get("contactInfo", []) if i["type"] == "phone")
        owners = ", ".join(
            employees.get(r["id"], r.get("name") or r["id"]) for r in client.get("responsibles", [])
        )
        extra = "; ".join(f"{fields[k]}={v}" for k, v in client.items() if k in fields)
        lines.append(
            f"  #{client['id']} {client['name']} | {phones or '—'} | отв.: {owners or '—'} | звонков: "
            f"{client.get('callsCount', 0)}" + (f" | {extra}" if extra else "")
        )
    lines.append("Мегаплан: сделки")
    for deal in state.get("deals", []):
        who = (deal.get("contractor") or {}).get("name") or "—"
        lines.append(
            f"  #{deal['id']} {deal['name']} | {deal['program']['name']} / {deal['state']['name']} | "
            f"{who} | менеджер: {deal['manager'].get('name')}"
        )
    calls = state.get("calls", [])
    comments = state.get("comments", [])
    lines.append(f"Мегаплан: звонков {len(calls)}, комментариев {len(comments)}")
    for call in calls:
        lines.append(
            f"  {call['type']:<4} {call['fromPhone']} → {call['toPhone']} | записей: {len(call['recordLinks'])}"
        )
    return "\n".join(lines)
