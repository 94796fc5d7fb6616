"""Mango's basic statistics (CSV) read as a stream: one row per leg, `;`-separated, no quoting.

Basic statistics are chosen over the extended JSON because they stream: a 100,000-call day is read
line by line with flat memory, while the JSON arrives as one document per request (paged by
`limit`/`offset`) and needs a second request shape for the same information we use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
FIELDS = (
    "records",
    "start",
    "finish",
    "answer",
    "from_extension",
    "from_number",
    "to_extension",
    "to_number",
    "disconnect_reason",
    "line_number",
    "location",
    "entry_id",
)


def day_bounds(day: date) -> tuple[int, int]:
    """A Moscow business day as unix seconds [00:00:00, 23:59:59] (Moscow has had no DST since 2014)."""
    start = datetime.combine(day, time(0, 0), tzinfo=MOSCOW)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp()) - 1


def previous_day(now: datetime) -> date:
    return now.astimezone(MOSCOW).date() - timedelta(days=1)


@dataclass(frozen=True)
class StatsRow:
    entry_id: str
    start: int
    finish: int
    answer: int
    from_extension: str
    from_number: str
    to_extension: str
    to_number: str
    disconnect_reason: str
    line_number: str
    location: str
    records: tuple[str, ...]


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else 0


def _records(text: str) -> tuple[str, ...]:
    inner = text.strip().strip("[]")
    return tuple(part.strip() for part in inner.split(",") if part.strip())


def parse_rows(lines: Iterable[str], fields: tuple[str, ...] = FIELDS) -> Iterator[StatsRow]:
    """Rows in the requested column order; blank lines and `\\r` ends (some clients saw `\\r\\n`) skipped."""
    index = {name: position for position, name in enumerate(fields)}
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        cells = line.split(";")
        if len(cells) < len(fields):
            cells += [""] * (len(fields) - len(cells))

        def cell(name: str, cells: list[str] = cells) -> str:
            return cells[index[name]].strip() if name in index else ""

        entry_id = cell("entry_id")
        if not entry_id:
            continue
        yield StatsRow(
            entry_id=entry_id,
            start=_int(cell("start")),
            finish=_int(cell("finish")),
            answer=_int(cell("answer")),
            from_extension=cell("from_extension"),
            from_number=cell("from_number"),
            to_extension=cell("to_extension"),
            to_number=cell("to_number"),
            disconnect_reason=cell("disconnect_reason"),
            line_number=cell("line_number"),
            location=cell("location"),
            records=_records(cell("records")),
        )


@dataclass
class StatsCall:
    """One call (entry) as the statistics show it: its legs folded."""

    entry_id: str
    rows: list[StatsRow] = field(default_factory=list)

    @property
    def first(self) -> StatsRow:
        return min(self.rows, key=lambda r: (r.start, r.finish))

    @property
    def answered_row(self) -> StatsRow | None:
        answered = [r for r in self.rows if r.answer > 0]
        return min(answered, key=lambda r: r.answer) if answered else None

    @property
    def direction(self) -> int:
        """Mango's call_direction: 0 internal, 1 incoming, 2 outgoing."""
        first = self.first
        if first.from_extension and first.to_extension and not first.line_number:
            return 0
        return 2 if first.from_extension else 1

    def summary_json(self) -> str:
        """An `events/summary` the PBX would have sent, for a call whose webhooks never arrived."""
        first, answered = self.first, self.answered_row
        callee = answered or first
        reason = next(
            (
                r.disconnect_reason
                for r in sorted(self.rows, key=lambda r: r.finish, reverse=True)
                if r.disconnect_reason.isdigit()
            ),
            "",
        )
        data: dict[str, object] = {
            "entry_id": self.entry_id,
            "call_direction": self.direction,
            "from": {
                k: v for k, v in (("extension", first.from_extension), ("number", first.from_number)) if v
            },
            "to": {k: v for k, v in (("extension", callee.to_extension), ("number", callee.to_number)) if v},
            "line_number": first.line_number or None,
            "create_time": first.start,
            "forward_time": answered.start if answered else 0,
            "talk_time": answered.answer if answered else 0,
            "end_time": max(r.finish for r in self.rows),
            "entry_result": 1 if answered else 0,
            "disconnect_reason": int(reason) if reason else None,
            "reconciled": True,
        }
        return json.dumps(
            {k: v for k, v in data.items() if v is not None}, separators=(",", ":"), ensure_ascii=False
        )


def employee_of(row: StatsRow) -> str | None:
    """The employee on a leg with an outside party (a consultation between two employees has none)."""
    if row.to_extension and not row.from_extension:
        return row.to_extension
    if row.from_extension and not row.to_extension:
        return row.from_extension
    return None


def unlogged_conversations(call: StatsCall, talked: Iterable[str]) -> list[StatsRow]:
    """Legs on which, by the statistics, an employee talked with the customer although the journal
    knows no conversation of that employee on the call: a leg whose webhooks never arrived."""
    known = set(talked)
    missing: dict[str, StatsRow] = {}
    for row in sorted(call.rows, key=lambda r: (r.answer, r.start)):
        employee = employee_of(row)
        if row.answer > 0 and employee and employee not in known and employee not in missing:
            missing[employee] = row
    return list(missing.values())


def leg_events_json(call: StatsCall, row: StatsRow) -> list[str]:
    """The `events/call` notifications of one leg as the PBX would have sent them (Appeared, Connected,
    Disconnected), rebuilt from its statistics row and marked `reconciled`."""
    call_id = f"stats-{row.start}-{employee_of(row) or 'leg'}"
    parties = {
        "from": {k: v for k, v in (("extension", row.from_extension), ("number", row.from_number)) if v},
        "to": {
            k: v
            for k, v in (
                ("extension", row.to_extension),
                ("number", row.to_number),
                ("line_number", row.line_number),
            )
            if v
        },
    }
    states = (("Appeared", row.start), ("Connected", row.answer), ("Disconnected", row.finish))
    events = []
    for seq, (state, at) in enumerate(states, start=1):
        data: dict[str, object] = {
            "entry_id": call.entry_id,
            "call_id": call_id,
            "timestamp": at,
            "seq": seq,
            "call_state": state,
            "location": "abonent",
            **parties,
            "reconciled": True,
        }
        if state == "Disconnected" and row.disconnect_reason.isdigit():
            data["disconnect_reason"] = int(row.disconnect_reason)
        events.append(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return events


def calls(rows: Iterable[StatsRow]) -> Iterator[StatsCall]:
    """Consecutive rows of one entry make one call; an entry seen again later is merged by the caller."""
    current: StatsCall | None = None
    for row in rows:
        if current is not None and row.entry_id != current.entry_id:
            yield current
            current = None
        if current is None:
            current = StatsCall(row.entry_id)
        current.rows.append(row)
    if current is not None:
        yield current
