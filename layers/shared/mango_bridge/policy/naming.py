"""Names of auto-created clients: «Новый (16:30 05.03.2018, входящий вызов)» (F9, seeds 001, 004).

The time is the call's start in the tenant's own time zone, so the name reads like the clock on the
office wall, not like UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NameCase = Literal["answered_incoming", "missed_incoming", "outgoing"]

_KIND_OF_CALL: dict[NameCase, str] = {
    "answered_incoming": "входящий вызов",
    "missed_incoming": "пропущенный вызов",
    "outgoing": "исходящий вызов",
}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Moscow")


def new_client_name(case: NameCase, started_at: int | None, timezone: str) -> str:
    kind = _KIND_OF_CALL[case]
    if started_at is None:
        return f"Новый ({kind})"
    local = datetime.fromtimestamp(started_at, UTC).astimezone(_zone(timezone))
    return f"Новый ({local:%H:%M %d.%m.%Y}, {kind})"
