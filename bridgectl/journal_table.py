"""Print the call journal as a person reads it: one line per call, Moscow time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
COLUMNS = (
    "time MSK",
    "direction",
    "caller",
    "callee",
    "result",
    "talk",
    "legs",
    "talked",
    "recs",
    "transfers",
)


def _time(iso: str | None) -> str:
    if not iso:
        return "?"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(MOSCOW).strftime("%H:%M:%S")


def _party(party: dict[str, Any]) -> str:
    if party.get("extension") and party.get("number") and not str(party["number"]).startswith("sip:"):
        return f"{party['number']} ({party['extension']})"
    return str(party.get("extension") or party.get("number") or "—")


def row(call: dict[str, Any]) -> tuple[str, ...]:
    outcome = "answered" if call["answered"] else "missed"
    if call["direction"] == "outgoing":
        outcome = "reached" if call["answered"] else "not reached"
    if call["status"] != "completed":
        outcome += " (in progress)"
    transfers = sum(1 for leg in call["legs"] if leg.get("transfer"))
    minutes, seconds = divmod(int(call["talk_seconds"]), 60)
    return (
        _time(call["started_at"]),
        call["direction"],
        _party(call["caller"]),
        _party(call["callee"]),
        outcome,
        f"{minutes}:{seconds:02d}",
        str(len(call["legs"])),
        ",".join(call.get("talked_extensions") or []) or "—",
        str(sum(1 for r in call["recordings"] if r.get("ready"))) + "/" + str(len(call["recordings"])),
        str(transfers) if transfers else "—",
    )


def render(calls: list[dict[str, Any]]) -> str:
    rows = [COLUMNS, *(row(call) for call in calls)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    answered = sum(1 for c in calls if c["answered"])
    lines.append("")
    lines.append(
        f"{len(calls)} calls: {answered} answered/reached, {len(calls) - answered} missed/not reached; "
        f"{sum(c['talk_seconds'] for c in calls) // 60} min of talk; "
        f"recordings ready: {sum(1 for c in calls for r in c['recordings'] if r.get('ready'))}"
    )
    return "\n".join(lines)
