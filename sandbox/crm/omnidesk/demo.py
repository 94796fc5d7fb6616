"""`make run --crm omnidesk`: connect the demo tenant to the Omnidesk sandbox, and print what it holds.

`connect` runs inside the local stack's process, where boto3 already points at moto.
"""

from __future__ import annotations

from typing import Any

from sandbox.crm.demo_secret import store_crm_credentials
from sandbox.crm.omnidesk.store import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL

STATUS_WORDS = {"open": "открытое", "waiting": "в ожидании", "closed": "закрытое"}


def connect(stack: Any, tenant_id: str) -> dict[str, Any]:
    """The API login in Secrets Manager, the demo employees as Omnidesk staff, and the tenant settings
    fragment seed 003 describes: every call of a mapped operator is a case in the calls channel; calls
    that reach no employee create nothing («Фиксировать пропущенные в IVR» stays off)."""
    from sandbox.stack.stack import DEMO_EMPLOYEES

    sandbox = stack.crm_sandboxes["omnidesk"]
    sandbox.seed(
        staff=[
            {
                "staff_id": int(employee["crm_user_id"]),
                "staff_email": f"staff{employee['crm_user_id']}@demo.omnidesk.ru",
                "staff_full_name": employee.get("name") or "",
            }
            for employee in DEMO_EMPLOYEES
        ]
    )
    secret = store_crm_credentials(
        tenant_id, {"staff_email": DEFAULT_STAFF_EMAIL, "api_key": DEFAULT_API_KEY}
    )
    return {
        "crm": {"kind": "omnidesk", "url": sandbox.url, "credentials": {"secret_name": secret}},
        "new_number": {
            "answered_incoming": {"create": ["contact"]},
            "missed_incoming": {"create": ["contact"]},
            "outgoing": {"create": ["contact"]},
        },
        "recordings": True,
    }


def render(state: dict[str, Any]) -> str:
    """The case list as an agent sees it: number, subject, status, responsible, labels, messages."""
    staff = {s["staff_id"]: s.get("staff_full_name") or s["staff_email"] for s in state.get("staff", [])}
    cases = state.get("cases", [])
    lines = [
        f"Омнидеск: {len(state.get('users', []))} пользователей, {len(cases)} обращений в канале «Звонки»"
    ]
    for case in cases:
        messages = case.get("messages", [])
        notes = sum(1 for m in messages if m.get("note"))
        replies = sum(1 for m in messages if m.get("staff_id") and not m.get("note"))
        labels = ", ".join(case.get("label_titles") or []) or "—"
        lines.append(
            f"  {case['case_number']}  {case['subject']:<38}  {STATUS_WORDS.get(case['status'], case['status']):<10}  "
            f"{staff.get(case['staff_id'], case['staff_id'])!s:<16}  метки: {labels:<20}  "
            f"сообщений {len(messages) - replies - notes}, ответов {replies}, заметок {notes}"
        )
    return "\n".join(lines)
