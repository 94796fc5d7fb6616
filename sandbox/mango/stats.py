"""The PBX's call history as Mango's statistics report it (`stats/request`, `stats/calls/request`).

A `StatsCall` is one entry (call group, `entry_id`) with its legs. The basic CSV statistics give one
row per leg that reached an employee, so an entry_id can appear in several rows; an entry that never
left the IVR or the queue gives a single row for the whole entry (`location` ivr/queue). The
extended JSON statistics give one item per entry with the legs in `context_calls`.

All times are unix seconds. Day boundaries (the extended statistics' `DD.MM.YYYY` dates and their
per-day chunks, and `generate_day`) are Moscow days.

The history is built from the notifications a scenario renders (`history_from_deliveries`), so that
calls whose webhooks were dropped still show up in statistics, or generated lazily for load tests
(`generate_day`).
"""

from __future__ import annotations

import base64
import bisect
import heapq
import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time
from typing import Any

from sandbox.mango.scenario import MOSCOW, Delivery

CSV_FIELDS = (
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
    "create",
)
"""Columns `stats/request` can return."""

DEFAULT_CSV_FIELDS = CSV_FIELDS[:11]
"""Mango's default `fields` (without `entry_id` and `create`)."""

DIRECTION_INTERNAL, DIRECTION_INCOMING, DIRECTION_OUTGOING = 0, 1, 2
CONTEXT_TYPE = {DIRECTION_INCOMING: 1, DIRECTION_OUTGOING: 2, DIRECTION_INTERNAL: 3}
"""Summary `call_direction` → extended statistics `context_type`."""


@dataclass(slots=True)
class StatsLeg:
    """One call leg as a statistics row: who called whom, when it rang, was answered and ended."""

    start: int
    finish: int
    answer: int = 0
    from_extension: str = ""
    from_number: str = ""
    to_extension: str = ""
    to_number: str = ""
    disconnect_reason: str = ""
    location: str = "abonent"
    recordings: tuple[str, ...] = ()
    call_id: str = ""


@dataclass(slots=True)
class StatsCall:
    """One entry: the summary's view of the whole call plus its legs (rows of the CSV)."""

    entry_id: str
    start: int
    finish: int
    answer: int = 0
    direction: int = DIRECTION_INCOMING
    from_extension: str = ""
    from_number: str = ""
    to_extension: str = ""
    to_number: str = ""
    disconnect_reason: str = ""
    line_number: str = ""
    location: str = "abonent"
    recordings: tuple[str, ...] = ()
    legs: tuple[StatsLeg, ...] = field(default_factory=tuple)

    @property
    def answered(self) -> bool:
        return self.answer > 0

    @property
    def rows(self) -> tuple[StatsLeg, ...]:
        """The CSV rows: one per leg, or the entry itself when no leg reached an employee."""
        if self.legs:
            return self.legs
        return (
            StatsLeg(
                start=self.start,
                finish=self.finish,
                answer=self.answer,
                from_extension=self.from_extension,
                from_number=self.from_number,
                to_extension=self.to_extension,
                to_number=self.to_number,
                disconnect_reason=self.disconnect_reason,
                location=self.location,
                recordings=self.recordings,
            ),
        )

    def csv_rows(self, columns: Iterable[str]) -> Iterator[str]:
        """`;`-separated rows without the trailing newline, columns in the order asked for."""
        columns = tuple(columns)
        for leg in self.rows:
            yield ";".join(self._value(leg, column) for column in columns)

    def _value(self, leg: StatsLeg, column: str) -> str:
        if column == "records":
            return f"[{','.join(leg.recordings)}]" if leg.recordings else ""
        if column == "entry_id":
            return self.entry_id
        if column == "create":
            return str(self.start)
        if column == "line_number":
            return self.line_number
        return str(getattr(leg, column))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatsCall:
        """The inverse of `as_dict` (lists for tuples), for the `/_sandbox/history` control endpoint."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["legs"] = tuple(_leg_from_dict(leg) for leg in data.get("legs") or ())
        values["recordings"] = tuple(str(r) for r in values.get("recordings") or ())
        for key in ("start", "finish", "answer", "direction"):
            if key in values:
                values[key] = int(values[key])
        return cls(**values)

    def context(self) -> dict[str, Any]:
        """The extended statistics (`stats/calls/result`) item for this entry."""
        talk = self.finish - self.answer if self.answer else 0
        return {
            "entry_id": self.entry_id,
            "context_type": CONTEXT_TYPE.get(self.direction, 1),
            "context_status": 1 if self.answered else 0,
            "caller_id": None,
            "caller_name": None,
            "caller_number": self.from_number or self.from_extension,
            "called_number": self.to_number or self.to_extension or self.line_number,
            "context_start_time": self.start,
            "duration": self.finish - self.start,
            "talk_duration": talk,
            "context_init_type": 0,
            "recall_status": 2,
            "context_calls": [_context_call(leg) for leg in self.rows],
        }


def _leg_from_dict(data: dict[str, Any]) -> StatsLeg:
    known = {f.name for f in fields(StatsLeg)}
    values = {key: value for key, value in data.items() if key in known}
    values["recordings"] = tuple(str(r) for r in values.get("recordings") or ())
    for key in ("start", "finish", "answer"):
        if key in values:
            values[key] = int(values[key])
    return StatsLeg(**values)


def _context_call(leg: StatsLeg) -> dict[str, Any]:
    employee = leg.to_extension or leg.from_extension
    return {
        "call_type": "user" if employee else "number",
        "call_abonent_id": None,
        "call_abonent_info": employee or None,
        "call_abonent_number": leg.to_number,
        "call_start_time": leg.start,
        "call_answer_time": leg.answer or None,
        "call_end_time": leg.finish,
        "call_duration": leg.finish - leg.start,
        "talk_duration": leg.finish - leg.answer if leg.answer else 0,
        "dial_duration": (leg.answer or leg.finish) - leg.start,
        "call_end_reason": leg.disconnect_reason,
        "recording_id": list(leg.recordings),
        "external_call_id": leg.call_id or None,
    }


class CallHistory:
    """Thread-safe, in-memory call history: concrete calls plus lazy sources (generated days).

    Concrete calls are keyed by entry_id, so recording the same play twice does not duplicate it.
    Sources are callables returning calls in `start` order; they are re-run on every query, so a
    100,000-call day costs no memory while it is not being read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, StatsCall] = {}
        self._sources: list[Callable[[], Iterable[StatsCall]]] = []

    def record(self, calls: Iterable[StatsCall]) -> int:
        """Add (or replace by entry_id) calls; returns how many were given."""
        count = 0
        with self._lock:
            for call in calls:
                self._calls[call.entry_id] = call
                count += 1
        return count

    def add_source(self, source: Callable[[], Iterable[StatsCall]]) -> None:
        """A lazy source: called per query, must yield calls ordered by `start`."""
        with self._lock:
            self._sources.append(source)

    def add_generated_day(self, day: date, count: int, seed: int) -> None:
        self.add_source(lambda: generate_day(day, count, seed))

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._sources.clear()

    def __len__(self) -> int:
        """Concrete calls only (sources are not counted: that would mean generating them)."""
        with self._lock:
            return len(self._calls)

    def entry_ids(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    def get(self, entry_id: str) -> StatsCall | None:
        with self._lock:
            return self._calls.get(entry_id)

    def calls(self, date_from: int | None = None, date_to: int | None = None) -> Iterator[StatsCall]:
        """Calls whose `start` is within [date_from, date_to], in `start` order, lazily."""
        with self._lock:
            concrete = sorted(self._calls.values(), key=_start)
            sources = list(self._sources)
        streams = [iter(concrete), *(iter(source()) for source in sources)]
        for call in heapq.merge(*streams, key=_start):
            if date_from is not None and call.start < date_from:
                continue
            if date_to is not None and call.start > date_to:
                return
            yield call


def _start(call: StatsCall) -> int:
    return call.start


# -- from rendered notifications ------------------------------------------------------------------


@dataclass
class _LegDraft:
    call_id: str
    start: int
    finish: int | None = None
    answer: int = 0
    reached_employee: bool = False
    location: str = ""
    from_party: dict[str, Any] = field(default_factory=dict)
    to_party: dict[str, Any] = field(default_factory=dict)
    disconnect_reason: str = ""
    recordings: list[str] = field(default_factory=list)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def history_from_deliveries(deliveries: Iterable[Delivery]) -> list[StatsCall]:
    """The calls statistics would report for these notifications, one `StatsCall` per entry_id.

    The summary gives the entry (times, direction, parties, line); `events/call` gives the legs, with
    their latest from/to (transfers substitute parties) and first Connected as the answer time. Only
    legs that reached an employee (`location: abonent`) become rows; an entry without such a leg
    gets one row from its summary. Duplicated deliveries are harmless.
    """
    order: list[str] = []
    summaries: dict[str, dict[str, Any]] = {}
    legs: dict[str, dict[str, _LegDraft]] = {}
    recording_leg: dict[str, str] = {}
    recordings: dict[str, list[tuple[str, str]]] = {}
    for delivery in sorted(deliveries, key=lambda d: d.at):
        if delivery.suffix not in ("events/call", "events/summary", "events/recording"):
            continue
        data = delivery.data
        entry_id = _text(data.get("entry_id"))
        if not entry_id:
            continue
        if entry_id not in legs:
            order.append(entry_id)
            legs[entry_id] = {}
            recordings[entry_id] = []
        if delivery.suffix == "events/summary":
            summaries[entry_id] = data
        elif delivery.suffix == "events/recording":
            recording_id, call_id = _text(data.get("recording_id")), _text(data.get("call_id"))
            if recording_id and recording_id not in recording_leg:
                recording_leg[recording_id] = call_id
                recordings[entry_id].append((recording_id, call_id))
        else:
            _apply_call_event(legs[entry_id], data)
    return [
        _entry(entry_id, summaries.get(entry_id), legs[entry_id], recordings[entry_id]) for entry_id in order
    ]


def _apply_call_event(entry_legs: dict[str, _LegDraft], data: dict[str, Any]) -> None:
    call_id = _text(data.get("call_id"))
    at = _int(data.get("timestamp"))
    leg = entry_legs.setdefault(call_id, _LegDraft(call_id=call_id, start=at))
    leg.start = min(leg.start, at)
    state = data.get("call_state")
    location = _text(data.get("location"))
    if location:
        leg.location = location
        leg.reached_employee = leg.reached_employee or location == "abonent"
    if isinstance(data.get("from"), dict) and data["from"].get("number", data["from"].get("extension")):
        leg.from_party = data["from"]
    if isinstance(data.get("to"), dict) and data["to"]:
        leg.to_party = data["to"]
    if state == "Connected" and not leg.answer:
        leg.answer = at
    if state == "Disconnected":
        leg.finish = at
        leg.disconnect_reason = _text(data.get("disconnect_reason"))


def _entry(
    entry_id: str,
    summary: dict[str, Any] | None,
    drafts: dict[str, _LegDraft],
    recordings: list[tuple[str, str]],
) -> StatsCall:
    summary = summary or {}
    ordered = sorted(drafts.values(), key=lambda leg: leg.start)
    start = _int(summary.get("create_time"), min((leg.start for leg in ordered), default=0))
    finish = _int(summary.get("end_time"), max((leg.finish or leg.start for leg in ordered), default=start))
    by_leg: dict[str, list[str]] = {}
    for recording_id, call_id in recordings:
        by_leg.setdefault(call_id, []).append(recording_id)
    employee_legs = tuple(
        StatsLeg(
            start=leg.start,
            finish=leg.finish if leg.finish is not None else finish,
            answer=leg.answer,
            from_extension=_text(leg.from_party.get("extension")),
            from_number=_text(leg.from_party.get("number")),
            to_extension=_text(leg.to_party.get("extension")),
            to_number=_text(leg.to_party.get("number")),
            disconnect_reason=leg.disconnect_reason,
            location="abonent",
            recordings=tuple(by_leg.get(leg.call_id, ())),
            call_id=leg.call_id,
        )
        for leg in ordered
        if leg.reached_employee
    )
    source_from = summary.get("from") if isinstance(summary.get("from"), dict) else {}
    source_to = summary.get("to") if isinstance(summary.get("to"), dict) else {}
    if not summary and ordered:
        source_from, source_to = ordered[0].from_party, ordered[-1].to_party
    if "call_direction" in summary:
        direction = _int(summary["call_direction"], DIRECTION_INCOMING)
    elif source_from.get("extension"):
        direction = DIRECTION_INTERNAL if source_to.get("extension") else DIRECTION_OUTGOING
    else:
        direction = DIRECTION_INCOMING
    answer = (
        _int(summary.get("talk_time"))
        if summary
        else min((leg.answer for leg in ordered if leg.answer), default=0)
    )
    last_location = ordered[-1].location if ordered else "ivr"
    return StatsCall(
        entry_id=entry_id,
        start=start,
        finish=finish,
        answer=answer,
        direction=direction,
        from_extension=_text(source_from.get("extension")),
        from_number=_text(source_from.get("number")),
        to_extension=_text(source_to.get("extension")),
        to_number=_text(source_to.get("number")),
        disconnect_reason=_text(
            summary.get("disconnect_reason", ordered[-1].disconnect_reason if ordered else "")
        ),
        line_number=_text(
            summary.get("line_number", (ordered[0].to_party.get("line_number") if ordered else ""))
        ),
        location="abonent" if employee_legs else (last_location or "ivr"),
        recordings=tuple(recording_id for recording_id, _ in recordings),
        legs=employee_legs,
    )


# -- generated days -------------------------------------------------------------------------------

HOURLY_WEIGHTS = (
    1, 1, 1, 1, 1, 2, 4, 10, 40, 90, 110, 110, 95, 90, 105, 110, 100, 90, 60, 30, 15, 8, 4, 2,
)  # fmt: skip
"""Relative call volume per Moscow hour: quiet nights, a business-hours plateau with a lunch dip."""

REASONS_NORMAL = ("1100", "1110", "1120", "1121")
REASONS_MISSED = ("1110", "1111", "1130", "1124")


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint`, several times cheaper; a day of 100,000 calls draws it over a million times."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[int(rng.random() * len(options))]


def _opaque_id(rng: random.Random, serial: int) -> str:
    """A Mango-looking id (base64 of colon-separated numbers plus noise), unique through `serial`."""
    noise = rng.getrandbits(88).to_bytes(11, "big")[: 7 + (serial % 4)]
    raw = b"%d:%d:%d:" % (1 + serial % 4, 10_000_000 + rng.getrandbits(26), serial) + noise
    return base64.b64encode(raw).decode()


def generate_day(day: date, count: int, seed: int) -> Iterator[StatsCall]:
    """`count` calls of one Moscow day, in `start` order, generated one at a time.

    Mix: 55 % incoming (70 % of them answered, possibly after other operators of a group rang;
    the rest missed at employees or in the IVR), 35 % outgoing (60 % answered), 10 % internal.
    """
    rng = random.Random(f"stats-day|{day.isoformat()}|{seed}")
    midnight = int(datetime.combine(day, time(0), MOSCOW).timestamp())
    total = sum(HOURLY_WEIGHTS)
    cumulative = []
    running = 0.0
    for weight in HOURLY_WEIGHTS:
        running += weight / total
        cumulative.append(running)
    line = "74951234567"
    for serial in range(count):
        position = (serial + rng.random()) / count
        hour = min(bisect.bisect_left(cumulative, position), 23)
        low = cumulative[hour - 1] if hour else 0.0
        within = (position - low) / (cumulative[hour] - low)
        start = midnight + hour * 3600 + min(int(within * 3600), 3599)
        yield _generated_call(rng, serial, start, line)


EMPLOYEES = tuple((str(extension), f"sip:op{extension}@demo.mangosip.ru") for extension in range(101, 181))


def _employee(rng: random.Random) -> tuple[str, str]:
    return EMPLOYEES[int(rng.random() * len(EMPLOYEES))]


def _customer(rng: random.Random) -> str:
    return f"79{_between(rng, 100_000_000, 999_999_999)}"


def _generated_call(rng: random.Random, serial: int, start: int, line: str) -> StatsCall:
    entry_id = _opaque_id(rng, serial)
    kind = rng.random()
    if kind < 0.55:
        customer = _customer(rng)
        ivr = _between(rng, 3, 20)
        answered = rng.random() < 0.7
        if not answered and rng.random() < 0.5:
            finish = start + ivr
            return StatsCall(
                entry_id, start, finish, 0, DIRECTION_INCOMING, "", customer, "", "",
                _pick(rng, REASONS_MISSED), line, _pick(rng, ("ivr", "queue")),
            )  # fmt: skip
        ring_start = start + ivr
        ringing = _between(rng, 1, 3)
        answer = ring_start + _between(rng, 2, 25) if answered else 0
        finish = (answer + _between(rng, 5, 900)) if answered else ring_start + _between(rng, 15, 40)
        legs = []
        winner = int(rng.random() * ringing) if answered else -1
        winner_recording: tuple[str, ...] = ()
        for index in range(ringing):
            extension, number = _employee(rng)
            won = index == winner
            recordings = (_opaque_id(rng, serial),) if won and rng.random() < 0.8 else ()
            winner_recording = recordings if won else winner_recording
            legs.append(
                StatsLeg(
                    ring_start, finish if won or not answered else answer, answer if won else 0, "", customer,
                    extension, number, "1120" if won else _pick(rng, REASONS_MISSED), "abonent", recordings,
                    _opaque_id(rng, serial),
                )
            )  # fmt: skip
        callee = legs[winner] if answered else legs[0]
        return StatsCall(
            entry_id, start, finish, answer, DIRECTION_INCOMING, "", customer, callee.to_extension,
            callee.to_number if answered else "", callee.disconnect_reason, line, "abonent",
            winner_recording, tuple(legs),
        )  # fmt: skip
    internal = kind >= 0.9
    extension, number = _employee(rng)
    if internal:
        to_extension, to_number = _employee(rng)
    else:
        to_extension, to_number = "", _customer(rng)
    answered = rng.random() < (0.8 if internal else 0.6)
    answer = start + _between(rng, 3, 30) if answered else 0
    finish = answer + _between(rng, 5, 1200) if answered else start + _between(rng, 5, 45)
    reason = _pick(rng, REASONS_NORMAL) if answered else _pick(rng, REASONS_MISSED)
    recordings = (_opaque_id(rng, serial),) if answered and rng.random() < 0.8 else ()
    direction = DIRECTION_INTERNAL if internal else DIRECTION_OUTGOING
    leg = StatsLeg(
        start, finish, answer, extension, number, to_extension, to_number, reason, "abonent", recordings,
        _opaque_id(rng, serial),
    )  # fmt: skip
    return StatsCall(
        entry_id, start, finish, answer, direction, extension, number, to_extension, to_number, reason,
        "" if internal else line, "abonent", recordings, (leg,),
    )  # fmt: skip


def dumps_calls(calls: Iterable[StatsCall]) -> str:
    """JSON for `POST /_sandbox/history`."""
    return json.dumps({"calls": [call.as_dict() for call in calls]}, ensure_ascii=False)
