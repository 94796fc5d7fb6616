"""Mango's after-the-call data in the sandbox: speech analytics, post-call ratings, call tracking.

Mango methods served (same checks and error style as every other method of the sandbox):

* `POST /vpbx/queries/recording_transcripts` {recording_id: ["…"] or "[\\"…\\"]"} (≤ 500 ids) →
  `data[{recording_id, names{client, operator}, phrases[[speaker, text]…]}]`, only for recordings
  whose transcript is ready; an unknown or not-yet-ready recording is simply absent.
* `POST /vpbx/queries/recording_categories` {recording_id, with_terms?, with_names?} →
  `data[{recording_id, categories[{id, name, version, assign_time, terms?}]}]` once tagged.
* `POST /vpbx/cc/call` {entry_id} → `call{…, mark_client, recording_id[]}`; `mark_client` is null
  until the client rated (or for good), 1..10, or −1 (sent to the rating, no answer).
* `POST /vpbx/queries/user_info_by_dct_number` {number} → `data{uid, ga_cid, ya_cid, …}`, `{}` when
  the number is bound to nobody.

Readiness is measured on the sandbox's analytics clock from when the recording was registered (the
file was formed) or the call's rating was first asked for, so a test can say "the transcript is ready after 3
minutes" or "never" and move the clock instead of waiting.

Control endpoint `/_sandbox/analytics`:

* `GET` — the configuration, the clock's offset and what was asked.
* `POST` — any of: `{"defaults": {"transcript_after_seconds": 0, "topics_after_seconds": 0,
  "topics": ["…"]}}` (null after-seconds = never), `{"recordings": {"<id>": {"transcript_after_seconds":
  180, "phrases": [["operator", "…"], …], "topics": ["…"], "topics_after_seconds": 60}}}`,
  `{"ratings": {"<entry_id>": 9 | -1 | null}}`, `{"rating_after_seconds": 60}`,
  `{"varied_ratings": true}` (calls without a rating of their own get one derived from the entry id —
  the demo day's mix of scores, refusals and silence), `{"dct": {"<number>": {…Mango's visitor data…}}}`,
  `{"advance_seconds": 3600}` (move the analytics clock forward).
* `DELETE` — forget the configuration and the offset.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sandbox.mango.api import settings_control

if TYPE_CHECKING:
    from sandbox.mango.api import ApiCall, MangoApiSandbox

BAD_PARAMETER = 3104
MISSING_PARAMETER = 3103
TOO_MANY_IDS = 3109
MAX_IDS = 500

TOPIC_CATALOGUE: dict[str, int] = {
    "Сотрудник поздоровался": 1688,
    "Клиент спросил о цене": 1689,
    "Клиент отказался от покупки": 1690,
    "Сотрудник предложил доставку": 1691,
    "Грубость": 1692,
}
DEFAULT_TOPICS = ("Сотрудник поздоровался", "Клиент спросил о цене")
DEFAULT_PHRASES: tuple[tuple[str, str], ...] = (
    ("operator", "Здравствуйте, компания «Ромашка», меня зовут Анна. Чем могу помочь?"),
    ("client", "Добрый день. Сколько стоит доставка в Подольск?"),
    ("operator", "Доставка в Подольск — 500 рублей, привезём завтра."),
    ("client", "Хорошо, спасибо, я подумаю."),
)


@dataclass
class RecordingPlan:
    transcript_after_seconds: float | None = 0.0
    topics_after_seconds: float | None = 0.0
    phrases: tuple[tuple[str, str], ...] = DEFAULT_PHRASES
    topics: tuple[str, ...] = DEFAULT_TOPICS


@dataclass
class AfterCallData:
    """What Mango learns after calls, and when: the state behind the four methods."""

    clock: Callable[[], float] = time.time
    offset: float = 0.0
    defaults: RecordingPlan = field(default_factory=RecordingPlan)
    recordings: dict[str, RecordingPlan] = field(default_factory=dict)
    ratings: dict[str, int | None] = field(default_factory=dict)
    rating_after_seconds: float = 0.0
    varied_ratings: bool = False
    dct: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: list[dict[str, Any]] = field(default_factory=list)
    first_asked: dict[str, float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> float:
        return self.clock() + self.offset

    def plan(self, recording_id: str) -> RecordingPlan:
        return self.recordings.get(recording_id, self.defaults)

    def configure(self, body: dict[str, Any]) -> None:
        with self.lock:
            if "defaults" in body:
                self.defaults = _plan(body["defaults"], RecordingPlan())
            for recording_id, plan in (body.get("recordings") or {}).items():
                self.recordings[str(recording_id)] = _plan(plan, self.defaults)
            for entry_id, mark in (body.get("ratings") or {}).items():
                self.ratings[str(entry_id)] = None if mark is None else int(mark)
            if "rating_after_seconds" in body:
                self.rating_after_seconds = float(body["rating_after_seconds"])
            if "varied_ratings" in body:
                self.varied_ratings = bool(body["varied_ratings"])
            for number, visitor in (body.get("dct") or {}).items():
                self.dct[_digits(str(number))] = dict(visitor or {})
            if "advance_seconds" in body:
                self.offset += float(body["advance_seconds"])

    def reset(self) -> None:
        with self.lock:
            self.offset = 0.0
            self.defaults = RecordingPlan()
            self.recordings.clear()
            self.ratings.clear()
            self.rating_after_seconds = 0.0
            self.varied_ratings = False
            self.dct.clear()
            self.asked.clear()
            self.first_asked.clear()

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {
                "offset_seconds": self.offset,
                "defaults": _plan_dict(self.defaults),
                "recordings": {rid: _plan_dict(plan) for rid, plan in self.recordings.items()},
                "ratings": dict(self.ratings),
                "rating_after_seconds": self.rating_after_seconds,
                "varied_ratings": self.varied_ratings,
                "dct": dict(self.dct),
                "asked": list(self.asked),
            }

    def rating(self, entry_id: str) -> int | None:
        if entry_id in self.ratings:
            return self.ratings[entry_id]
        if not self.varied_ratings:
            return None
        bucket = int(hashlib.sha256(entry_id.encode()).hexdigest(), 16) % 10
        return None if bucket < 3 else -1 if bucket == 3 else 4 + bucket % 7  # 30 % silent, 10 % refused


def _plan(body: dict[str, Any], base: RecordingPlan) -> RecordingPlan:
    def seconds(name: str, fallback: float | None) -> float | None:
        if name not in body:
            return fallback
        return None if body[name] is None else float(body[name])

    phrases = body.get("phrases")
    topics = body.get("topics")
    return RecordingPlan(
        transcript_after_seconds=seconds("transcript_after_seconds", base.transcript_after_seconds),
        topics_after_seconds=seconds("topics_after_seconds", base.topics_after_seconds),
        phrases=tuple((str(s), str(t)) for s, t in phrases) if phrases is not None else base.phrases,
        topics=tuple(str(t) for t in topics) if topics is not None else base.topics,
    )


def _plan_dict(plan: RecordingPlan) -> dict[str, Any]:
    return {
        "transcript_after_seconds": plan.transcript_after_seconds,
        "topics_after_seconds": plan.topics_after_seconds,
        "phrases": [list(p) for p in plan.phrases],
        "topics": list(plan.topics),
    }


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _ready(formed_at: float, after: float | None, now: float) -> bool:
    return after is not None and now >= formed_at + after


def _recording_ids(call: ApiCall) -> list[str] | Response:
    """Both forms Mango's clients send: a JSON array, or the array JSON-encoded in a string (D26)."""
    raw = call.data.get("recording_id")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip().startswith("[") else [raw]
        except ValueError:
            return call.error(BAD_PARAMETER, "recording_id is not a JSON array")
    if raw is None:
        return call.error(MISSING_PARAMETER, "recording_id is required")
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        return call.error(BAD_PARAMETER, "recording_id must be an array of recording ids")
    if len(raw) > MAX_IDS:
        return call.error(TOO_MANY_IDS, f"at most {MAX_IDS} recording ids per request")
    return raw


def install(sandbox: MangoApiSandbox) -> None:
    """Register the methods and the control endpoint this module serves."""
    data = AfterCallData()
    sandbox.after_call = data  # type: ignore[attr-defined]

    def formed_at(recording_id: str) -> float | None:
        """When the file was formed: when it was registered downloadable (wall clock)."""
        with sandbox._lock:
            recording = sandbox._recordings.get(recording_id)
        return recording.registered_at if recording is not None else None

    def note(method: str, **what: Any) -> None:
        with data.lock:
            data.asked.append({"method": method, "at": data.now(), **what})

    def transcripts(call: ApiCall) -> Response:
        ids = _recording_ids(call)
        if isinstance(ids, Response):
            return ids
        note("recording_transcripts", recording_ids=ids)
        now, out = data.now(), []
        for recording_id in ids:
            formed, plan = formed_at(recording_id), data.plan(recording_id)
            if formed is None or not _ready(formed, plan.transcript_after_seconds, now):
                continue
            out.append(
                {
                    "recording_id": recording_id,
                    "names": {"client": "Клиент", "operator": "Сотрудник"},
                    "phrases": [list(phrase) for phrase in plan.phrases],
                }
            )
        return call.ok(data=out)

    def categories(call: ApiCall) -> Response:
        ids = _recording_ids(call)
        if isinstance(ids, Response):
            return ids
        note("recording_categories", recording_ids=ids)
        with_terms, with_names = bool(call.data.get("with_terms")), call.data.get("with_names", True)
        now, out = data.now(), []
        for recording_id in ids:
            formed, plan = formed_at(recording_id), data.plan(recording_id)
            if formed is None or not _ready(formed, plan.topics_after_seconds, now):
                continue
            found = []
            for name in plan.topics:
                topic: dict[str, Any] = {
                    "id": TOPIC_CATALOGUE.get(name, 2000 + len(name)),
                    "assign_time": int(formed + (plan.topics_after_seconds or 0)),
                    "version": 7,
                }
                if with_names:
                    topic["name"] = name
                if with_terms:
                    topic["terms"] = [{"channels": [-1], "count": 1, "value": name.split()[0]}]
                found.append(topic)
            out.append({"recording_id": recording_id, "categories": found})
        return call.ok(data=out)

    def cc_call(call: ApiCall) -> Response:
        entry_id = call.data.get("entry_id")
        if entry_id in (None, ""):
            return call.error(MISSING_PARAMETER, "entry_id is required")
        entry_id = str(entry_id)
        note("cc/call", entry_id=entry_id)
        with data.lock:
            first = data.first_asked.setdefault(entry_id, data.now())
        mark = data.rating(entry_id)
        if mark is not None and data.now() < first + data.rating_after_seconds:
            mark = None  # the client has not pressed a key yet
        return call.ok(
            call={
                "conversion": [],
                "tag_id": [],
                "call_comment": None,
                "script_id": [],
                "mark_client": mark,
                "mark_controller": {},
                "recording_id": [],
            }
        )

    def user_info(call: ApiCall) -> Response:
        number = call.data.get("number")
        if not number:
            return call.error(MISSING_PARAMETER, "number is required")
        note("user_info_by_dct_number", number=str(number))
        return call.ok(data=dict(data.dct.get(_digits(str(number)), {})))

    for path, handler in (
        ("queries/recording_transcripts", transcripts),
        ("queries/recording_categories", categories),
        ("cc/call", cc_call),
        ("queries/user_info_by_dct_number", user_info),
    ):
        sandbox.register_method(path, handler)
    sandbox.register_control("analytics", settings_control(data))
