"""The part of Mango's VPBX API the bridge calls (`https://app.mango-office.ru/vpbx/…`), in memory.

Requests are checked the way Mango checks them: POST only (3101), the `json` form field present
(3103), `vpbx_api_key` known (3105), `sign` = sha256(key + json + salt) over the raw field (3102),
`json` parseable (3400). Errors answer `{"code": <code>, "message": …}` with HTTP 420 Method
Failure as API v1.10 describes (p.5: `{"code": 3104}`); `error_http_status=200` switches to the
HTTP 200 + `{"result": <code>}` style that other clients observed, so the bridge can be tested
against both readings. Signatures are checked with the spec's formula written out in
`sandbox/mango/signing.py`, never with the bridge's own code.

Mango methods implemented:

* `POST /vpbx/queries/recording/post` {recording_id, action: download|play} → 302 to a one-shot
  `/files/<token>` link (a second GET is 404); unknown recording → 3320.
* `GET /vpbx/queries/recording/link/<recording_id>/<action>/<key>/<expires>/<sign>` → the same
  302 (pre-signed link; path segments are percent-decoded one by one, ids contain `/`).
* `POST /vpbx/stats/request` {date_from, date_to, fields?, request_id?, from?, to?, call_party?} →
  `{"key": …}`; missing date 3103, span over 31 days 3111; at most one stats request (basic or
  extended) per `stats_rate_limit_seconds` (default 2) or HTTP 429 with Mango's body.
  `POST /vpbx/stats/result` {key} → 204 until ready (after `stats_ready_after_polls` polls and
  `stats_ready_after_seconds`), 404 for an unknown key, then 200 `text/csv` streamed: one row per leg
  that reached an employee (an entry_id can repeat), one row for an entry that ended in IVR/queue,
  `;` between values, `\n` after each row, columns in `fields` order. A key expires
  `stats_key_ttl` seconds (default 60) after its first complete download.
* `POST /vpbx/stats/calls/request/` {start_date, end_date (`DD.MM.YYYY[ HH:MM:SS]`, Moscow wall
  time), limit, offset, context_type?, context_status?} → `{"key": …}`; span of 30 days or more 3111.
  `POST /vpbx/stats/calls/result/` {key} → `status: work` (maybe with a partial first chunk) until
  ready, then `status: complete` with `data` = per-Moscow-day chunks `{period, list, total_*}`; an
  unknown or expired key answers `status: not-found`.
* `POST /vpbx/commands/route`, `incominglines`, `schemas` — see `sandbox/mango/routing.py` (calls
  waiting in the IVR, the route rate limit, the playback of a routed call).
* `POST /vpbx/commands/<anything>` → recorded in `commands` and answered `{"result": 1000}`.
  `register_method("commands/route", handler)` replaces that per method (e.g. to play the events
  the command causes).

Control endpoints (not Mango's):

* `GET /_sandbox/state` — requests received, commands, recordings, pending links, downloads, faults.
* `POST /_sandbox/reset` — forget everything (requests, commands, recordings, links, faults).
* `GET|POST|DELETE /_sandbox/faults` — list / add / clear faults, e.g. `{"status": 503, "count": 2}`,
  `{"result": 5008}`, `{"latency_ms": 800, "count": null}`, `{"status": 429}` (Mango's rate-limit
  body), optionally limited to a method by `"path": "queries/recording/post"` (prefix; `"files"`
  targets downloads). `count` is how many requests it hits (default 1; null = until cleared);
  `for_seconds` lets it lapse on its own (the fields are shared with the CRM sandboxes: `sandbox.faults`).
* `GET|POST /_sandbox/recordings` — list / register downloadable recordings:
  `{"recording_id": "…"}` or `{"recording_ids": […]}`. The player registers the recordings its
  scenarios announce with `events/record/added`; in process, call `register_deliveries()`.
* `GET|POST|DELETE /_sandbox/history` — the calls statistics report: `{"calls": [StatsCall.as_dict()…]}`
  (the player posts every call it plays, dropped ones included) or `{"generate": {"day": "2025-11-24",
  "count": 100000, "seed": 1}}` for a lazily generated day; GET lists the recorded entry ids.
* `POST /_sandbox/config` — `{"error_http_status": 200}` and the `stats_*` settings above.

Faults act before any check, like a proxy or an overloaded front end in front of Mango would.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Request, Response

from sandbox.faults import Clock, FaultBook, apply_fault_request
from sandbox.faults import Fault as BaseFault
from sandbox.loopback import LoopbackServer
from sandbox.mango.scenario import MOSCOW, Delivery
from sandbox.mango.signing import recording_link_sign, signature_ok
from sandbox.mango.stats import CSV_FIELDS, DEFAULT_CSV_FIELDS, CallHistory, StatsCall

DEFAULT_API_KEY = "sandboxvpbxapikey0000000000"
DEFAULT_API_SALT = "sandboxvpbxapisalt000000000000000"

SUCCESS = 1000
BAD_SIGN = 3102
MISSING_PARAMETER = 3103
BAD_PARAMETER = 3104
WRONG_KEY = 3105
NOT_POST = 3101
RECORDING_NOT_FOUND = 3320
INVALID_JSON = 3400
NOT_SUPPORTED = 4001
PERIOD_TOO_LONG = 3111

STATS_CSV_MAX_SPAN = 31 * 86400
""""Not more than one month" for the CSV statistics."""
STATS_CALLS_MAX_SPAN = 30 * 86400 - 1
"""Extended statistics: exactly 30 days was seen failing live, 30 days minus a second works."""
STATS_CALLS_LIMITS = frozenset({1, 5, 10, 20, 50, 100, 500, 1000, 2000, 5000})
CSV_CHUNK_BYTES = 64 * 1024

RATE_LIMIT_BODY = {"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0, "status": 429}
RECORDING_ACTIONS = ("download", "play")
STATS_SETTINGS = (
    "stats_rate_limit_seconds",
    "stats_ready_after_polls",
    "stats_ready_after_seconds",
    "stats_key_ttl",
)
LINK_PREFIX = "queries/recording/link/"


class Fault(BaseFault):
    """A misbehaviour for Mango's endpoints; `result` answers with that Mango result code instead."""

    result: int | None = None


@dataclass
class ReceivedRequest:
    """One request to a Mango endpoint as the sandbox saw and answered it."""

    method: str
    path: str
    json_text: str | None
    data: Any
    status: int
    result: int | None
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Recording:
    recording_id: str
    audio: bytes
    registered_at: float = field(default_factory=time.time)


@dataclass
class ApiCall:
    """A verified, parsed API request handed to a method handler."""

    sandbox: MangoApiSandbox
    path: str
    json_text: str
    data: dict[str, Any]

    def ok(self, **fields: Any) -> Response:
        return json_response({"result": SUCCESS, **fields})

    def error(self, code: int, message: str) -> Response:
        return self.sandbox.error_response(code, message)


MethodHandler = Callable[[ApiCall], Response]
ControlHandler = Callable[[str, Any], Response]
"""A control endpoint: (HTTP method, parsed JSON body) → response."""


class Configurable(Protocol):
    """A feature module's settings, as its control endpoint changes and shows them."""

    def configure(self, body: dict[str, Any]) -> None: ...

    def reset(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def settings_control(feature: Configurable) -> ControlHandler:
    """`/_sandbox/<feature>`: POST a JSON object to change settings, DELETE to reset; each answers them."""

    def control(method: str, body: Any) -> Response:
        if method == "POST":
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            feature.configure(body)
        elif method == "DELETE":
            feature.reset()
        return json_response(feature.describe())

    return control


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=_status_line(status),
        mimetype="application/json",
    )


def _status_line(code: int) -> int | str:
    """Werkzeug has no reason phrase for 420, Mango's error status in API v1.10."""
    return "420 Method Failure" if code == 420 else code


def fake_mp3(recording_id: str, *, frames: int = 40) -> bytes:
    """About a second of MPEG-1 Layer III frames behind an ID3 tag whose title is the recording id."""
    text = b"\x00" + recording_id.encode("latin-1", "replace")
    title = b"TIT2" + len(text).to_bytes(4, "big") + b"\x00\x00" + text
    size = len(title)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    tag = b"ID3\x03\x00\x00" + syncsafe + title
    frame = b"\xff\xfb\x90\x64" + bytes(413)  # 128 kbit/s at 44.1 kHz: 417 bytes per frame
    return tag + frame * frames


def recording_post(call: ApiCall) -> Response:
    """`queries/recording/post`: a 302 to a link that works once."""
    recording_id = call.data.get("recording_id")
    action = call.data.get("action")
    if not recording_id or not action:
        return call.error(MISSING_PARAMETER, "recording_id and action are required")
    return call.sandbox.redirect_to_recording(str(recording_id), str(action))


@dataclass
class StatsJob:
    """One statistics request: what to report and how far along its preparation and download are."""

    key: str
    kind: str  # "csv" (stats/request) or "calls" (stats/calls/request)
    date_from: int
    date_to: int
    fields: tuple[str, ...] = DEFAULT_CSV_FIELDS
    filters: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    limit: int = 0
    offset: int = 0
    created_at: float = field(default_factory=time.time)
    polls: int = 0
    downloaded_at: float | None = None


def _epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _csv_fields(value: Any) -> tuple[str, ...] | None:
    """`fields` as clients send it: a comma-separated string or a JSON array; None if unusable."""
    if value is None or value == "" or value == []:
        return DEFAULT_CSV_FIELDS
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return None
    names = tuple(str(item).strip() for item in items)
    if not names or any(name not in CSV_FIELDS for name in names):
        return None
    return names


def _moscow_time(value: Any) -> int | None:
    """`DD.MM.YYYY HH:MM:SS` or `DD.MM.YYYY` (midnight) as Moscow wall time; ISO dates are refused."""
    if not isinstance(value, str):
        return None
    for pattern in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
        try:
            return int(datetime.strptime(value.strip(), pattern).replace(tzinfo=MOSCOW).timestamp())
        except ValueError:
            continue
    return None


def _party_matches(wanted: Any, extension: str, number: str) -> bool:
    if not isinstance(wanted, dict):
        return True
    if wanted.get("extension") not in (None, "") and str(wanted["extension"]) != extension:
        return False
    return not (wanted.get("number") not in (None, "") and str(wanted["number"]) != number)


def _as_set(value: Any) -> set[int] | None:
    if value is None:
        return None
    return {int(item) for item in (value if isinstance(value, list) else [value])}


def stats_request(call: ApiCall) -> Response:
    """`stats/request`: validate, remember the job, hand out its key."""
    data = call.data
    if "date_from" not in data or "date_to" not in data:
        return call.error(MISSING_PARAMETER, "date_from and date_to are required")
    date_from, date_to = _epoch(data["date_from"]), _epoch(data["date_to"])
    if date_from is None or date_to is None or date_to < date_from:
        return call.error(BAD_PARAMETER, "date_from and date_to must be unix seconds, date_from <= date_to")
    if date_to - date_from > STATS_CSV_MAX_SPAN:
        return call.error(PERIOD_TOO_LONG, "the period must not exceed one month")
    columns = _csv_fields(data.get("fields"))
    if columns is None:
        return call.error(BAD_PARAMETER, f"fields must be a list or comma-separated string of {CSV_FIELDS}")
    filters = {name: data[name] for name in ("from", "to", "call_party") if isinstance(data.get(name), dict)}
    job = call.sandbox.new_stats_job(
        "csv", date_from, date_to, fields=columns, filters=filters, request_id=data.get("request_id")
    )
    body: dict[str, Any] = {"key": job.key}
    if job.request_id is not None:
        body["request_id"] = job.request_id
    return json_response(body)


def stats_result(call: ApiCall) -> Response:
    """`stats/result`: 204 while preparing, 404 for an unknown key, else the CSV, streamed."""
    polled = call.sandbox.poll_stats_job(str(call.data.get("key", "")), "csv")
    if polled is None:
        return Response(status=404)
    job, ready = polled
    if not ready:
        return Response(status=204)
    return Response(call.sandbox.csv_chunks(job), status=200, mimetype="text/csv")


def stats_calls_request(call: ApiCall) -> Response:
    """`stats/calls/request/`: the extended statistics' job, with Mango's live-observed checks."""
    data = call.data
    missing = [name for name in ("start_date", "end_date", "limit", "offset") if name not in data]
    if missing:
        return call.error(MISSING_PARAMETER, f"required: {', '.join(missing)}")
    start, end = _moscow_time(data["start_date"]), _moscow_time(data["end_date"])
    if start is None or end is None or end < start:
        return call.error(BAD_PARAMETER, "start_date/end_date must be 'DD.MM.YYYY HH:MM:SS', start <= end")
    if end - start > STATS_CALLS_MAX_SPAN:
        return call.error(PERIOD_TOO_LONG, "the period must be shorter than 30 days")
    limit, offset = _epoch(data["limit"]), _epoch(data["offset"])
    if limit not in STATS_CALLS_LIMITS or offset is None:
        return call.error(BAD_PARAMETER, f"limit must be one of {sorted(STATS_CALLS_LIMITS)}, offset >= 0")
    try:
        filters = {
            name: _as_set(data.get(name))
            for name in ("context_type", "context_status")
            if data.get(name) is not None
        }
    except (TypeError, ValueError):
        return call.error(BAD_PARAMETER, "context_type and context_status are integers")
    job = call.sandbox.new_stats_job("calls", start, end, filters=filters, limit=limit, offset=offset)
    return json_response({"key": job.key})


def stats_calls_result(call: ApiCall) -> Response:
    """`stats/calls/result/`: `work` (maybe with a partial first chunk) until ready, then `complete`."""
    sandbox = call.sandbox
    polled = sandbox.poll_stats_job(str(call.data.get("key", "")), "calls")
    if polled is None:
        return call.ok(status="not-found", data=[])
    job, ready = polled
    if not ready:
        chunks = sandbox.calls_chunks(job)
        partial = [{**chunks[0], "list": chunks[0]["list"][: len(chunks[0]["list"]) // 2]}] if chunks else []
        return call.ok(status="work", data=partial)
    chunks = sandbox.calls_chunks(job)
    sandbox.mark_downloaded(job)
    return call.ok(status="complete", data=chunks)


class MangoApiSandbox(LoopbackServer):
    """Mango's API on 127.0.0.1 with in-memory state; embeddable (`wsgi_app`) or standalone (`start`)."""

    thread_name = "mango-api-sandbox"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_salt: str = DEFAULT_API_SALT,
        error_http_status: int = 420,
        stats_rate_limit_seconds: float = 2.0,
        stats_ready_after_polls: int = 1,
        stats_ready_after_seconds: float = 0.0,
        stats_key_ttl: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        # Statistics keys' readiness, lifetime and rate limit and fault expiry are measured on this
        # clock, so tests can move it (`sandbox.faults.ManualClock`) instead of sleeping.
        self.clock: Clock = clock or time.time
        self.port = port
        self.api_key = api_key
        self.api_salt = api_salt
        self.error_http_status = error_http_status
        self.stats_rate_limit_seconds = stats_rate_limit_seconds
        self.stats_ready_after_polls = stats_ready_after_polls
        self.stats_ready_after_seconds = stats_ready_after_seconds
        self.stats_key_ttl = stats_key_ttl
        self.history = CallHistory()
        self._lock = threading.RLock()
        self._methods: dict[str, MethodHandler] = {
            "queries/recording/post": recording_post,
            "stats/request": stats_request,
            "stats/result": stats_result,
            "stats/calls/request": stats_calls_request,
            "stats/calls/result": stats_calls_result,
        }
        self._stats_jobs: dict[str, StatsJob] = {}
        self._last_stats_request = float("-inf")
        self._requests: list[ReceivedRequest] = []
        self._commands: list[dict[str, Any]] = []
        self._recordings: dict[str, Recording] = {}
        self._links: dict[str, tuple[str, str]] = {}
        self._downloads: list[dict[str, Any]] = []
        self._faults: FaultBook[Fault] = FaultBook(Fault, self.clock)
        self._controls: dict[str, ControlHandler] = {}
        from sandbox.mango import analytics, routing

        analytics.install(self)
        routing.install(self)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"{self.origin}/"

    @property
    def url(self) -> str:
        """Base URL of the API as the bridge configures it (Mango's is `https://app.mango-office.ru/vpbx/`)."""
        return f"{self.root_url}vpbx/"

    # -- state -----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def commands(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._commands)

    @property
    def downloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._downloads)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": [request.as_dict() for request in self._requests],
                "commands": list(self._commands),
                "recordings": sorted(self._recordings),
                "pending_links": len(self._links),
                "downloads": list(self._downloads),
                "faults": self._faults.dump(),
                "error_http_status": self.error_http_status,
                "history": len(self.history),
                "stats_jobs": len(self._stats_jobs),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._commands.clear()
            self._recordings.clear()
            self._links.clear()
            self._downloads.clear()
            self._faults.clear()
            self._stats_jobs.clear()
            self._last_stats_request = float("-inf")
        self.history.clear()
        desk = getattr(self, "route_desk", None)
        if desk is not None:
            desk.reset()

    def add_recording(self, recording_id: str, *, audio: bytes | None = None) -> None:
        with self._lock:
            self._recordings[recording_id] = Recording(recording_id, audio or fake_mp3(recording_id))

    def has_recording(self, recording_id: str) -> bool:
        with self._lock:
            return recording_id in self._recordings

    def register_deliveries(self, deliveries: Iterable[Delivery]) -> list[str]:
        """Make every recording announced by `events/record/added` downloadable; returns their ids."""
        added = []
        for delivery in deliveries:
            if delivery.suffix == "events/record/added":
                recording_id = str(delivery.data["recording_id"])
                self.add_recording(recording_id)
                added.append(recording_id)
        return added

    def record_history(self, calls: Iterable[StatsCall]) -> int:
        """Calls the statistics report (replacing earlier ones with the same entry_id)."""
        return self.history.record(calls)

    # -- statistics jobs -------------------------------------------------------------------------

    def stats_rate_limited(self) -> bool:
        """Mango allows one `/stats…` request per 2 s per product; a refused request does not count."""
        if not self.stats_rate_limit_seconds:
            return False
        now = self.clock()
        with self._lock:
            if now - self._last_stats_request < self.stats_rate_limit_seconds:
                return True
            self._last_stats_request = now
        return False

    def new_stats_job(self, kind: str, date_from: int, date_to: int, **options: Any) -> StatsJob:
        job = StatsJob(secrets.token_hex(16), kind, date_from, date_to, **options, created_at=self.clock())
        with self._lock:
            self._stats_jobs[job.key] = job
        return job

    def stats_job(self, key: str) -> StatsJob | None:
        with self._lock:
            job = self._stats_jobs.get(key)
            if (
                job
                and job.downloaded_at is not None
                and self.clock() - job.downloaded_at > self.stats_key_ttl
            ):
                del self._stats_jobs[key]
                return None
            return job

    def poll_stats_job(self, key: str, kind: str) -> tuple[StatsJob, bool] | None:
        """The job and whether it is ready; None for an unknown, expired or other-kind key."""
        job = self.stats_job(key)
        if job is None or job.kind != kind:
            return None
        with self._lock:
            job.polls += 1
            waited = self.clock() - job.created_at >= self.stats_ready_after_seconds
            ready = job.downloaded_at is not None or (job.polls > self.stats_ready_after_polls and waited)
        return job, ready

    def mark_downloaded(self, job: StatsJob) -> None:
        """Start the key's remaining lifetime at its first complete download."""
        with self._lock:
            if job.downloaded_at is None:
                job.downloaded_at = self.clock()

    def stats_calls(self, job: StatsJob) -> Iterator[StatsCall]:
        return self.history.calls(job.date_from, job.date_to)

    def csv_chunks(self, job: StatsJob) -> Iterator[bytes]:
        """The CSV body in ~64 KiB pieces, built while the client reads it."""
        wanted_from, wanted_to, either = (job.filters.get(name) for name in ("from", "to", "call_party"))
        buffer: list[str] = []
        size = 0
        for call in self.stats_calls(job):
            for leg, row in zip(call.rows, call.csv_rows(job.fields), strict=True):
                if job.filters and not (
                    _party_matches(wanted_from, leg.from_extension, leg.from_number)
                    and _party_matches(wanted_to, leg.to_extension, leg.to_number)
                    and (
                        either is None
                        or _party_matches(either, leg.from_extension, leg.from_number)
                        or _party_matches(either, leg.to_extension, leg.to_number)
                    )
                ):
                    continue
                buffer.append(row)
                buffer.append("\n")
                size += len(row) + 1
                if size >= CSV_CHUNK_BYTES:
                    yield "".join(buffer).encode()
                    buffer.clear()
                    size = 0
        if buffer:
            yield "".join(buffer).encode()
        self.mark_downloaded(job)

    def calls_chunks(self, job: StatsJob) -> list[dict[str, Any]]:
        """One page (limit/offset over entries in start order) grouped into per-Moscow-day chunks."""
        types, statuses = job.filters.get("context_type"), job.filters.get("context_status")
        chunks: dict[date, dict[str, Any]] = {}
        skipped = taken = 0
        for call in self.stats_calls(job):
            item = call.context()
            if (types and item["context_type"] not in types) or (
                statuses is not None and item["context_status"] not in statuses
            ):
                continue
            if skipped < job.offset:
                skipped += 1
                continue
            if taken >= job.limit:
                break
            taken += 1
            day = datetime.fromtimestamp(call.start, MOSCOW).date()
            chunk = chunks.setdefault(
                day,
                {
                    "list": [],
                    "period": day.isoformat(),
                    "total_talks_duration": 0,
                    "total_calls_duration": 0,
                    "total_calls_count": 0,
                },
            )
            chunk["list"].append(item)
            chunk["total_talks_duration"] += item["talk_duration"]
            chunk["total_calls_duration"] += item["duration"]
            chunk["total_calls_count"] += 1
        return list(chunks.values())

    def add_fault(self, fault: Fault | dict[str, Any]) -> Fault:
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def register_method(self, path: str, handler: MethodHandler) -> None:
        """Serve `POST /vpbx/<path>` with `handler` (called after key and sign are verified)."""
        self._methods[path.strip("/")] = handler

    # -- responses shared by handlers ------------------------------------------------------------

    def register_control(self, name: str, handler: ControlHandler) -> None:
        """Serve `/_sandbox/<name>` with `handler(method, body)` (a feature module's own controls)."""
        self._controls[name] = handler

    def error_body(self, code: int, message: str) -> dict[str, Any]:
        """D110 p.5: «сервер возвращает HTTP-код 420 Method Failure и ответ в формате JSON, содержащий
        код ошибки и опционально описание: { "code": 3104 }». The HTTP 200 reading (other clients'
        observation) carries the code as `result`, like a command's answer."""
        return {"result" if self.error_http_status == 200 else "code": code, "message": message}

    def error_response(self, code: int, message: str, status: int | None = None) -> Response:
        return json_response(self.error_body(code, message), status=status or self.error_http_status)

    def redirect_to_recording(self, recording_id: str, action: str) -> Response:
        if action not in RECORDING_ACTIONS:
            return self.error_response(BAD_PARAMETER, f"action must be one of {RECORDING_ACTIONS}")
        if not self.has_recording(recording_id):
            return self.error_response(RECORDING_NOT_FOUND, "recording not found")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._links[token] = (recording_id, action)
        return Response(status=302, headers={"Location": f"{self.root_url}files/{token}"})

    # -- WSGI ------------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.startswith("/_sandbox/"):
            response = self._control(request, path.removeprefix("/_sandbox/").strip("/"))
        elif path.startswith("/files/"):
            response = self._with_faults(request, path.strip("/"), self._download)
        elif path.startswith("/vpbx/"):
            response = self._with_faults(request, path.removeprefix("/vpbx/").strip("/"), self._api)
        else:
            response = Response("not a Mango sandbox path\n", status=404, mimetype="text/plain")
        return response(environ, start_response)

    def _with_faults(
        self, request: Request, path: str, handler: Callable[[Request, str], tuple[Response, str | None, Any]]
    ) -> Response:
        fault = self._faults.take(path)
        json_text: str | None = request.form.get("json") if request.method == "POST" else None
        data: Any = None
        if fault:
            fault.wait()
        if fault and (fault.status or fault.result is not None):
            response = self._fault_response(fault)
        else:
            response, json_text, data = handler(request, path)
        self._log(request.method, path, json_text, data, response)
        return response

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            return json_response(RATE_LIMIT_BODY, status=429)
        if fault.result is not None:
            return self.error_response(fault.result, "injected fault", fault.status)
        return Response(status=fault.status or 500)

    def _log(self, method: str, path: str, json_text: str | None, data: Any, response: Response) -> None:
        result = None
        if response.mimetype == "application/json":
            try:
                body = json.loads(response.get_data())
                result = body.get("result", body.get("code")) if isinstance(body, dict) else None
            except ValueError:
                result = None
        with self._lock:
            self._requests.append(
                ReceivedRequest(method, path, json_text, data, response.status_code, result)
            )

    def _api(self, request: Request, path: str) -> tuple[Response, str | None, Any]:
        if request.method == "GET" and path.startswith(LINK_PREFIX):
            return self._presigned_link(request), None, None
        if request.method != "POST":
            return self.error_response(NOT_POST, "Mango's API accepts POST only"), None, None
        json_text = request.form.get("json")
        if json_text is None:
            return self.error_response(MISSING_PARAMETER, "form field json is required"), None, None
        if request.form.get("vpbx_api_key") != self.api_key:
            return self.error_response(WRONG_KEY, "unknown vpbx_api_key"), json_text, None
        if not signature_ok(self.api_key, json_text, self.api_salt, request.form.get("sign", "")):
            return self.error_response(BAD_SIGN, "sign does not match"), json_text, None
        try:
            data = json.loads(json_text)
        except ValueError:
            return self.error_response(INVALID_JSON, "json is not valid JSON"), json_text, None
        if not isinstance(data, dict):
            return self.error_response(BAD_PARAMETER, "json must be an object"), json_text, data
        if path in ("stats/request", "stats/calls/request") and self.stats_rate_limited():
            return json_response(RATE_LIMIT_BODY, status=429), json_text, data
        call = ApiCall(self, path, json_text, data)
        if path.startswith("commands/"):
            with self._lock:
                self._commands.append({"path": path, "data": data, "at": time.time()})
        handler = self._methods.get(path)
        if handler is not None:
            return handler(call), json_text, data
        if path.startswith("commands/"):
            return call.ok(), json_text, data
        return (
            self.error_response(NOT_SUPPORTED, f"the sandbox does not implement {path}", 404),
            json_text,
            data,
        )

    def _presigned_link(self, request: Request) -> Response:
        raw_path = urlsplit(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI", "")).path
        tail = raw_path.split("/vpbx/" + LINK_PREFIX, 1)[-1]
        parts = [unquote(part) for part in tail.split("/")]
        if len(parts) != 5:
            return self.error_response(
                MISSING_PARAMETER, "expected <recording_id>/<action>/<key>/<expires>/<sign>"
            )
        recording_id, action, api_key, expires, signature = parts
        if api_key != self.api_key:
            return self.error_response(WRONG_KEY, "unknown vpbx_api_key")
        if not expires.isdigit():
            return self.error_response(BAD_PARAMETER, "timestamp must be epoch seconds")
        if recording_link_sign(self.api_key, int(expires), recording_id, self.api_salt) != signature:
            return self.error_response(BAD_SIGN, "sign does not match")
        if int(expires) < time.time():
            return self.error_response(BAD_PARAMETER, "link expired")
        return self.redirect_to_recording(recording_id, action)

    def _download(self, request: Request, path: str) -> tuple[Response, str | None, Any]:
        if request.method != "GET":
            return Response(status=405), None, None
        token = path.removeprefix("files/")
        with self._lock:
            link = self._links.pop(token, None)
            recording = self._recordings.get(link[0]) if link else None
            if link and recording:
                self._downloads.append({"recording_id": link[0], "action": link[1], "at": time.time()})
        if link is None or recording is None:
            return Response("link used or unknown\n", status=404, mimetype="text/plain"), None, None
        recording_id, action = link
        disposition = "attachment" if action == "download" else "inline"
        safe_name = "".join(ch if ch.isalnum() else "_" for ch in recording_id)[:64]
        response = Response(recording.audio, status=200, mimetype="audio/mpeg")
        response.headers["Content-Disposition"] = f'{disposition}; filename="{safe_name}.mp3"'
        return response, None, {"recording_id": recording_id, "action": action}

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, what: str) -> Response:
        try:
            body = request.get_json(force=True) if request.method == "POST" and request.data else {}
        except BadRequest:
            return json_response({"error": "body must be JSON"}, 400)
        try:
            if what == "state" and request.method == "GET":
                return json_response(self.state())
            if what == "reset" and request.method == "POST":
                self.reset()
                return json_response({"ok": True})
            if what == "faults":
                return self._control_faults(request.method, body)
            if what == "recordings":
                return self._control_recordings(request.method, body)
            if what == "history":
                return self._control_history(request.method, body)
            if what in self._controls:
                return self._controls[what](request.method, body)
            if what == "config" and request.method == "POST":
                if "error_http_status" in body:
                    self.error_http_status = int(body["error_http_status"])
                for name in STATS_SETTINGS:
                    if name in body:
                        setattr(self, name, type(getattr(self, name))(body[name]))
                return json_response(
                    {"error_http_status": self.error_http_status}
                    | {name: getattr(self, name) for name in STATS_SETTINGS}
                )
        except (ValidationError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"no control endpoint {request.method} /_sandbox/{what}"}, 404)

    def _control_faults(self, method: str, body: Any) -> Response:
        apply_fault_request(method, body, self.add_fault, self.clear_faults)
        return json_response({"faults": self.state()["faults"]})

    def _control_recordings(self, method: str, body: Any) -> Response:
        if method == "POST":
            items = body if isinstance(body, list) else [body]
            for item in items:
                ids = item.get("recording_ids") or [item.get("recording_id")]
                for recording_id in ids:
                    if not recording_id:
                        raise ValueError("recording_id or recording_ids is required")
                    self.add_recording(str(recording_id))
        return json_response({"recordings": self.state()["recordings"]})

    def _control_history(self, method: str, body: Any) -> Response:
        if method == "POST":
            calls = body.get("calls", []) if isinstance(body, dict) else body
            self.record_history(StatsCall.from_dict(item) for item in calls)
            generate = body.get("generate") if isinstance(body, dict) else None
            if generate:
                self.history.add_generated_day(
                    date.fromisoformat(str(generate["day"])),
                    int(generate["count"]),
                    int(generate.get("seed", 0)),
                )
        elif method == "DELETE":
            self.history.clear()
        return json_response({"entry_ids": self.history.entry_ids()})


def main(argv: list[str] | None = None) -> int:
    """Run the API sandbox on its own: `python -m sandbox.mango.api --port 3001`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.mango.api", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--key", default=DEFAULT_API_KEY)
    parser.add_argument("--salt", default=DEFAULT_API_SALT)
    args = parser.parse_args(argv)
    sandbox = MangoApiSandbox(args.host, args.port, api_key=args.key, api_salt=args.salt).start()
    print(f"Mango API sandbox at {sandbox.url} (control: {sandbox.root_url}_sandbox/state)", flush=True)
    sandbox.run_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
