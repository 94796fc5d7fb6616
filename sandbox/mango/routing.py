"""Mango's side of smart routing: `commands/route` on calls waiting in the IVR, and the PBX's scheme.

A call can be routed only while its leg waits in the IVR or a queue, as on the real PBX. The player
announces such a leg (`POST /_sandbox/live`) before posting its `Appeared`, with the ingest URL the
PBX posts to; the leg stays routable for its greeting window, then the player closes it and plays
Mango's own scheme instead. A `commands/route` on a routable leg is answered `{"result": 1000}` and
then plays what the PBX does (D110 p.49–50, 57–59): the IVR leg's `Disconnected` 1100, a new leg
taken from it carrying the `command_id` (to an extension, a group member with `acd_group`, or the
number), `result/route` 1000, then — unless the target is busy — `Connected`, the hang-up and
`events/summary`. A busy target rings `Disconnected` 1121 and the call ends missed.

Mango methods served:

* `POST /vpbx/commands/route` {command_id, call_id, to_number, sip_headers?}: 3103 without call_id or
  to_number; at most one per `rate_limit_seconds` (2 s: «1 per 2 s per product») or HTTP 429 with
  Mango's body. Otherwise the command is taken (1000) and its outcome follows in `result/route`
  (D110 p.28–29): 4101 «Вызов завершен либо не существует» when the announced leg has left the IVR or
  was routed already, or when nobody announced the leg (posted to the configured `to_url`, else the
  last announced leg's webhook URL).
* `POST /vpbx/incominglines` → `lines[{line_id, number, name, schema_id, schema_name}]`;
  `POST /vpbx/schemas` → `schemas[{id, name, steps[{type, duration, wait_end, melody_type}]}]`, for
  the bridge's greeting check (the schemes' shape is this sandbox's reading of Mango's).

Control endpoints:

* `POST /_sandbox/live` {entry_id, call_id, to_url, caller, line, location?, seq?, window_seconds?,
  talk_seconds?} — a leg waiting in the IVR; `POST /_sandbox/live/wait` {call_id, timeout} — block
  until it is routed (or the timeout); `POST /_sandbox/live/close` {call_id} — the greeting is over
  (later routes get 4101). Each answers `{"routed": <command or null>, "playback": {...}}`.
* `GET|POST /_sandbox/routing` — state and configuration: `{"rate_limit_seconds": 2, "to_url": …, "busy":
  ["102"], "groups": {"500": ["104", "105"]}, "numbers": {"101": "sip:101@…"}, "lines": […],
  "schemas": […]}`; `DELETE` forgets live legs and configuration.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from werkzeug.wrappers import Response

from sandbox.mango.api import settings_control
from sandbox.mango.scenario import OpaqueIds
from sandbox.mango.signing import mango_sign as sign

if TYPE_CHECKING:
    from sandbox.mango.api import ApiCall, MangoApiSandbox

MISSING_PARAMETER = 3103
LEG_GONE = 4101
RATE_LIMIT_BODY = {"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0, "status": 429}
RING_SECONDS = 3
DEFAULT_TALK_SECONDS = 60
DEFAULT_LINE = "74951234567"
DEFAULT_SCHEMES: list[dict[str, Any]] = [
    {
        "id": 1001,
        "name": "Основная",
        "steps": [
            {"type": "greeting", "duration": 8, "wait_end": True, "melody_type": "file"},
            {"type": "menu", "items": {"1": "sales", "2": "support"}},
            {"type": "dial", "group": "500"},
        ],
    }
]


@dataclass
class LiveLeg:
    """A leg waiting in the IVR or a queue that `commands/route` may move."""

    entry_id: str
    call_id: str
    to_url: str
    caller: str
    line: str
    location: str = "ivr"
    seq: int = 1
    window_seconds: float = 8.0
    talk_seconds: int = DEFAULT_TALK_SECONDS
    opened_at: float = field(default_factory=time.monotonic)
    closed: bool = False
    routed: dict[str, Any] | None = None
    posted: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def routable(self) -> bool:
        return not self.closed and self.routed is None

    def describe(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "call_id": self.call_id,
            "closed": self.closed,
            "routed": self.routed,
            "playback": {
                "done": self.done.is_set(),
                "posted": [suffix for suffix, _, _ in self.posted],
                "statuses": [status for _, _, status in self.posted],
                "errors": list(self.errors),
            },
        }


@dataclass
class Pbx:
    """What the sandbox PBX knows about its employees and groups, for where a route lands."""

    busy: set[str] = field(default_factory=set)
    groups: dict[str, list[str]] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    schemas: list[dict[str, Any]] = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_SCHEMES)))

    def employee_number(self, extension: str) -> str:
        return self.numbers.get(extension, f"sip:{extension}@vpbx400000001.mangosip.ru")


def routed_events(
    leg: LiveLeg, command: dict[str, Any], pbx: Pbx, *, base_time: int, seed: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The notifications a successful `commands/route` produces, in the order Mango sends them."""
    ids = OpaqueIds(random.Random(seed))
    new_leg = ids["routed"]
    command_id = str(command.get("command_id") or ids["command"])
    target = str(command.get("to_number", ""))
    customer = {"number": leg.caller}
    line_party = {"number": leg.line, "line_number": leg.line}
    to: dict[str, Any]
    extension: str | None = None
    if target in pbx.groups:
        members = [m for m in pbx.groups[target] if m not in pbx.busy] or pbx.groups[target][:1]
        extension = members[0] if members else None
        to = {"extension": extension, "number": pbx.employee_number(extension or target), "acd_group": target}
    elif target.isdigit() and len(target) <= 5:
        extension = target
        to = {"extension": target, "number": pbx.employee_number(target)}
    else:
        to = {"number": target}
    to["line_number"] = leg.line
    to = {k: v for k, v in to.items() if v is not None}
    routed_from = {**customer, "taken_from_call_id": leg.call_id}
    answered = extension not in pbx.busy if extension else True
    answer_at = base_time + RING_SECONDS
    end_at = answer_at + leg.talk_seconds if answered else base_time + 1

    def call_event(call_id: str, seq: int, state: str, at: int, **extra: Any) -> tuple[str, dict[str, Any]]:
        parties = (customer, line_party) if call_id == leg.call_id else (routed_from, to)
        body: dict[str, Any] = {
            "entry_id": leg.entry_id,
            "call_id": call_id,
            "timestamp": at,
            "seq": seq,
            "call_state": state,
            "location": leg.location if call_id == leg.call_id else "abonent",
            "from": parties[0],
            "to": parties[1],
        }
        if call_id != leg.call_id:
            body["command_id"] = command_id
        return "events/call", {**body, **extra}

    events = [
        call_event(leg.call_id, leg.seq + 1, "Disconnected", base_time, disconnect_reason=1100),
        call_event(new_leg, 1, "Appeared", base_time),
        ("result/route", {"command_id": command_id, "result": 1000}),
    ]
    summary_to = {k: v for k, v in to.items() if k in ("extension", "number")}
    summary: dict[str, Any] = {
        "entry_id": leg.entry_id,
        "call_direction": 1,
        "from": customer,
        "to": summary_to,
        "line_number": leg.line,
        "create_time": base_time - 5,
        "forward_time": base_time,
        "talk_time": answer_at if answered else 0,
        "end_time": end_at,
        "entry_result": 1 if answered else 0,
        "disconnect_reason": 1110 if answered else 1121,
    }
    if answered:
        events += [
            call_event(new_leg, 2, "Connected", answer_at),
            call_event(new_leg, 3, "Disconnected", end_at, disconnect_reason=1110),
        ]
    else:
        events.append(call_event(new_leg, 2, "Disconnected", end_at, disconnect_reason=1121))
    events.append(("events/summary", summary))
    return events


class RouteDesk:
    """The routing state of one sandbox PBX (one product, so one route rate limit)."""

    def __init__(self, sandbox: MangoApiSandbox, *, delay: float = 0.03) -> None:
        self.sandbox = sandbox
        self.delay = delay
        self.rate_limit_seconds = 2.0
        self.pbx = Pbx()
        self.live: dict[str, LiveLeg] = {}
        self.routes: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.to_url: str | None = None
        """Where `result/route` goes for a call nobody announced: set by configuration, else the
        webhook URL of the last announced leg."""
        self._result_threads: list[threading.Thread] = []
        self._configured_url = False
        self._last_route = float("-inf")
        self._lock = threading.RLock()
        self._http = httpx.Client(timeout=10.0, trust_env=False)

    # -- Mango's methods -----------------------------------------------------------------------------
    def route(self, call: ApiCall) -> Response:
        data = call.data
        call_id, to_number = data.get("call_id"), data.get("to_number")
        if not call_id or not to_number:
            return call.error(MISSING_PARAMETER, "call_id and to_number are required")
        now = time.monotonic()
        with self._lock:
            if now - self._last_route < self.rate_limit_seconds:
                self.routes.append({"command": data, "answer": 429, "at": time.time()})
                return Response(json.dumps(RATE_LIMIT_BODY), status=429, mimetype="application/json")
            self._last_route = now
            leg = self.live.get(str(call_id))
            if leg is None or not leg.routable():
                # D110 p.28–29: the command is taken, its outcome comes in `result/route`, where 4101
                # is «Вызов завершен либо не существует» — a leg that left the IVR, was routed
                # already, or that nobody announced (no such call on this PBX).
                to_url = leg.to_url if leg is not None else self.to_url
                self.routes.append(
                    {
                        "command": data,
                        "answer": 1000,
                        "result": LEG_GONE,
                        "at": time.time(),
                        **({"unannounced": True} if leg is None else {}),
                    }
                )
                result = ("result/route", {"command_id": data.get("command_id", ""), "result": LEG_GONE})
                self._post_result(to_url, result)
                return call.ok()
            leg.routed = dict(data)
            self.routes.append({"command": data, "answer": 1000, "at": time.time()})
        with leg.changed:
            leg.changed.notify_all()
        events = routed_events(leg, data, self.pbx, base_time=int(time.time()))
        threading.Thread(target=self._post_all, args=(leg, events), daemon=True, name="mango-route").start()
        return call.ok()

    def incoming_lines(self, call: ApiCall) -> Response:
        lines = self.pbx.lines or [
            {
                "line_id": 1,
                "number": DEFAULT_LINE,
                "name": "",
                "comment": "",
                "region": "2",
                "schema_id": self.pbx.schemas[0]["id"] if self.pbx.schemas else None,
                "schema_name": self.pbx.schemas[0]["name"] if self.pbx.schemas else None,
            }
        ]
        return call.ok(lines=lines)

    def schemas(self, call: ApiCall) -> Response:
        return call.ok(schemas=self.pbx.schemas)

    # -- playback ----------------------------------------------------------------------------------
    def _post_result(self, to_url: str | None, result: tuple[str, dict[str, Any]]) -> None:
        """A command's outcome, posted after the command was answered (as the PBX does)."""
        if not to_url:
            self.results.append({"posted": result, "status": None, "error": "no webhook URL known"})
            return

        def post() -> None:
            time.sleep(self.delay)
            try:
                status: int | None = self._post(to_url, *result)
                error = None
            except httpx.HTTPError as problem:
                status, error = None, str(problem)
            self.results.append({"posted": result, "status": status, "error": error})

        thread = threading.Thread(target=post, daemon=True, name="mango-route-result")
        self._result_threads.append(thread)
        thread.start()

    def wait_results(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        for thread in list(self._result_threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return list(self.results)

    def _post(self, to_url: str, suffix: str, data: dict[str, Any]) -> int:
        base = to_url if to_url.endswith("/") else to_url + "/"
        key, salt = self.sandbox.api_key, self.sandbox.api_salt
        json_text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        form = {"vpbx_api_key": key, "sign": sign(key, json_text, salt), "json": json_text}
        return self._http.post(base + suffix, data=form).status_code

    def _post_all(self, leg: LiveLeg, events: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            for suffix, data in events:
                time.sleep(self.delay)
                try:
                    status = self._post(leg.to_url, suffix, data)
                except httpx.HTTPError as problem:
                    leg.errors.append(f"{suffix}: {problem}")
                    return
                leg.posted.append((suffix, data, status))
        finally:
            leg.done.set()

    # -- control -----------------------------------------------------------------------------------
    def announce(self, body: dict[str, Any]) -> LiveLeg:
        missing = [name for name in ("entry_id", "call_id", "to_url", "caller", "line") if not body.get(name)]
        if missing:
            raise ValueError(f"required: {', '.join(missing)}")
        leg = LiveLeg(
            entry_id=str(body["entry_id"]),
            call_id=str(body["call_id"]),
            to_url=str(body["to_url"]),
            caller=str(body["caller"]),
            line=str(body["line"]),
            location=str(body.get("location", "ivr")),
            seq=int(body.get("seq", 1)),
            window_seconds=float(body.get("window_seconds", 8.0)),
            talk_seconds=int(body.get("talk_seconds", DEFAULT_TALK_SECONDS)),
        )
        with self._lock:
            self.live[leg.call_id] = leg
            if not self._configured_url:
                self.to_url = leg.to_url
        return leg

    def wait(self, call_id: str, timeout: float) -> LiveLeg:
        leg = self._leg(call_id)
        deadline = time.monotonic() + timeout
        with leg.changed:
            while leg.routed is None and not leg.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                leg.changed.wait(left)
        if leg.routed is not None:
            leg.done.wait(max(0.0, deadline - time.monotonic()) + 10.0)
        return leg

    def close(self, call_id: str) -> LiveLeg:
        leg = self._leg(call_id)
        with self._lock:
            leg.closed = leg.routed is None
        with leg.changed:
            leg.changed.notify_all()
        return leg

    def _leg(self, call_id: str) -> LiveLeg:
        with self._lock:
            leg = self.live.get(call_id)
        if leg is None:
            raise ValueError(f"no live leg {call_id!r} was announced")
        return leg

    def configure(self, body: dict[str, Any]) -> None:
        with self._lock:
            if "rate_limit_seconds" in body:
                self.rate_limit_seconds = float(body["rate_limit_seconds"])
            if "to_url" in body:
                self.to_url = str(body["to_url"]) if body["to_url"] else None
                self._configured_url = bool(body["to_url"])
            if "busy" in body:
                self.pbx.busy = {str(ext) for ext in body["busy"] or []}
            if "groups" in body:
                self.pbx.groups = {str(k): [str(m) for m in v] for k, v in (body["groups"] or {}).items()}
            if "numbers" in body:
                self.pbx.numbers = {str(k): str(v) for k, v in (body["numbers"] or {}).items()}
            if "lines" in body:
                self.pbx.lines = list(body["lines"] or [])
            if "schemas" in body:
                self.pbx.schemas = list(body["schemas"] or [])

    def reset(self) -> None:
        with self._lock:
            self.live.clear()
            self.routes.clear()
            self.results.clear()
            self.to_url, self._configured_url = None, False
            self.pbx = Pbx()
            self.rate_limit_seconds = 2.0
            self._last_route = float("-inf")

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate_limit_seconds": self.rate_limit_seconds,
                "pbx": {**asdict(self.pbx), "busy": sorted(self.pbx.busy)},
                "live": [leg.describe() for leg in self.live.values()],
                "routes": list(self.routes),
                "results": list(self.results),
                "to_url": self.to_url,
            }


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def install(sandbox: MangoApiSandbox) -> RouteDesk:
    """Register `commands/route`, the lines and schemes methods and the control endpoints."""
    desk = RouteDesk(sandbox)
    sandbox.route_desk = desk  # type: ignore[attr-defined]
    sandbox.register_method("commands/route", desk.route)
    sandbox.register_method("incominglines", desk.incoming_lines)
    sandbox.register_method("schemas", desk.schemas)

    def live(method: str, body: Any) -> Response:
        if method != "POST" or not isinstance(body, dict):
            raise ValueError("POST a JSON object describing the leg")
        return _json(desk.announce(body).describe())

    def wait(method: str, body: Any) -> Response:
        leg = desk.wait(str(body.get("call_id", "")), float(body.get("timeout", 10.0)))
        return _json(leg.describe())

    def close(method: str, body: Any) -> Response:
        return _json(desk.close(str(body.get("call_id", ""))).describe())

    sandbox.register_control("live", live)
    sandbox.register_control("live/wait", wait)
    sandbox.register_control("live/close", close)
    sandbox.register_control("routing", settings_control(desk))
    return desk
