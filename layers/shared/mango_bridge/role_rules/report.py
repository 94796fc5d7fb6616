"""The «Действия звонка» report: the applied rules of one call as BPMSoft's call card lists them.

Columns as the guide names them (Порядок, Направление звонка, Функциональная роль, Условие, Сущность,
Сущность 2, Действие, Значение) plus what each row did. Two messages come from the guide: «Нет данных»
when «Сохранять историю действий по звонкам» was off when the call came in (or no rule ran for it),
and a lone «1» when the table itself is off (row 1 has final = yes).
"""

from __future__ import annotations

from typing import Any

from mango_bridge.role_rules.history import AppliedRow, History
from mango_bridge.settings.model import DIRECTION_LABELS

TITLE = "Действия звонка"
NO_DATA = "Нет данных"
ONLY_ROW_ONE = "1"
CALL_DIRECTIONS = {"incoming": "Входящий", "outgoing": "Исходящий"}


def action_report(history: History | None, *, shown: bool) -> dict[str, Any]:
    """The report body; `shown` is «Сохранять историю действий по звонкам» at the time of the call."""
    if history is None or history.status in ("no_rules", "not_applicable"):
        reason = (
            "no role rules ran for this call: it is not processed yet, it has no client, or the tenant "
            "has no rule table"
        )
        return _empty(NO_DATA, reason, history)
    if not shown:
        return _empty(
            NO_DATA,
            "«Сохранять историю действий по звонкам» was off when the call came in: the history is kept "
            "but not shown",
            history,
        )
    body = {
        "title": TITLE,
        "message": None,
        "hint": None,
        "status": history.status,
        "error": history.error,
        "roles": history.roles,
        "operator_user_id": history.operator_user_id,
        "client_number": history.client_number,
        "rows": [_row(row, history) for row in history.rows],
        "screen": [instruction.model_dump(mode="json") for instruction in history.screen],
        "variables": history.variables,
    }
    if history.status == "switched_off":
        body["message"] = ONLY_ROW_ONE
        body["hint"] = (
            "the rule table is off (row 1 has final = yes): switch it on, with «Сохранять историю действий "
            "по звонкам», for the rules to run"
        )
    return body


def _empty(message: str, hint: str, history: History | None) -> dict[str, Any]:
    return {
        "title": TITLE,
        "message": message,
        "hint": hint,
        "status": history.status if history else None,
        "error": None,
        "rows": [],
        "screen": [],
    }


def _row(row: AppliedRow, history: History) -> dict[str, Any]:
    return {
        "order": row.order,
        "direction": CALL_DIRECTIONS.get(history.direction, history.direction),
        "rule_direction": DIRECTION_LABELS.get(row.direction, row.direction),
        "role": row.role or (", ".join(history.roles) or None),
        "condition": row.condition,
        "entity": row.entity,
        "entity2": row.entity2,
        "action": row.action.value,
        "action_label": row.action_label,
        "value": row.value,
        "final": row.final,
        "result": row.result,
        "message": row.message,
        "inputs": row.inputs,
        "acted_on": [e.model_dump() for e in row.acted_on],
        "entities": [e.model_dump() for e in row.entities],
        "next_row": row.next_row,
    }
