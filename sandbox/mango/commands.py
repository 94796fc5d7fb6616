"""Commands that make the Mango sandbox behave like a PBX: the events a command causes come back.

`install_callback` makes `commands/callback` end the way Mango's example does (D110 p.47–48,
`scenarios/callback.yaml`): `result/callback`, the employee's leg (Appeared → Connected →
Disconnected 1000), the leg to the number taken from it (Appeared → Connected → Disconnected 1120),
both carrying the `command_id`, then `events/summary` with `call_direction` 2. They are posted,
signed, to the bridge's ingest URL from a background thread, after the command has been answered,
so a click-to-call in the local stack ends as a logged outgoing call.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from werkzeug.wrappers import Response

from sandbox.mango.api import ApiCall, MangoApiSandbox
from sandbox.mango.scenario import OpaqueIds
from sandbox.mango.signing import mango_sign as sign

RING_SECONDS = 4
DIAL_SECONDS = 12
DEFAULT_TALK_SECONDS = 60


@dataclass
class CallbackPlayback:
    """What the sandbox posted back for each callback command: tests wait on it and read it."""

    posted: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, timeout: float = 10.0) -> bool:
        """True when every playback started so far has posted all its events."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def suffixes(self) -> list[str]:
        with self._lock:
            return [suffix for suffix, _, _ in self.posted]


def callback_events(
    command: dict[str, Any],
    *,
    base_time: int,
    talk_seconds: int = DEFAULT_TALK_SECONDS,
    seed: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The notifications a successful `commands/callback` produces, in the order Mango sends them."""
    ids = OpaqueIds(random.Random(seed))
    entry_id, ring_leg, dial_leg = ids["entry"], ids["ring"], ids["dial"]
    command_id = str(command.get("command_id") or ids["command"])
    caller = command.get("from") or {}
    employee: dict[str, Any] = {"extension": str(caller.get("extension", ""))}
    if caller.get("number"):
        employee["number"] = str(caller["number"])
    customer = {"number": str(command.get("to_number", ""))}
    dialling = {**employee, "taken_from_call_id": ring_leg}
    answered_at = base_time + RING_SECONDS
    talk_from = answered_at + DIAL_SECONDS
    ended_at = talk_from + talk_seconds

    def leg(
        call_id: str,
        seq: int,
        state: str,
        at: int,
        parties: tuple[dict[str, Any], dict[str, Any]],
        **extra: Any,
    ) -> tuple[str, dict[str, Any]]:
        return (
            "events/call",
            {
                "entry_id": entry_id,
                "call_id": call_id,
                "timestamp": at,
                "seq": seq,
                "call_state": state,
                "location": "abonent",
                "from": parties[0],
                "to": parties[1],
                "command_id": command_id,
                "callback_initiator": "API",
                **extra,
            },
        )

    ringing = (customer, employee)
    talking = (dialling, customer)
    summary: dict[str, Any] = {
        "entry_id": entry_id,
        "call_direction": 2,
        "from": employee,
        "to": customer,
        "create_time": base_time,
        "forward_time": base_time,
        "talk_time": talk_from,
        "end_time": ended_at,
        "entry_result": 1,
        "disconnect_reason": 1120,
    }
    if command.get("line_number"):
        summary["line_number"] = str(command["line_number"])
    return [
        ("result/callback", {"command_id": command_id, "result": 1000}),
        leg(ring_leg, 1, "Appeared", base_time, ringing),
        leg(ring_leg, 2, "Connected", answered_at, ringing),
        leg(ring_leg, 3, "Disconnected", answered_at + 1, ringing, disconnect_reason=1000),
        leg(dial_leg, 1, "Appeared", answered_at + 1, talking),
        leg(dial_leg, 2, "Connected", talk_from, talking),
        leg(dial_leg, 3, "Disconnected", ended_at, talking, disconnect_reason=1120),
        ("events/summary", summary),
    ]


def install_callback(
    mango: MangoApiSandbox,
    *,
    to_url: str,
    api_key: str,
    api_salt: str,
    talk_seconds: int = DEFAULT_TALK_SECONDS,
    delay: float = 0.05,
    http: httpx.Client | None = None,
) -> CallbackPlayback:
    """Answer `commands/callback` with `{"result": 1000}`, then post its events to `to_url`.

    `to_url` is the tenant's ingest URL (`…/mango/<tenant>/`), `api_key`/`api_salt` the tenant's, so
    the bridge verifies the events as Mango's own. Event times start now; the talk lasts
    `talk_seconds` on paper, the events go out `delay` seconds apart.
    """
    base = to_url if to_url.endswith("/") else to_url + "/"
    playback = CallbackPlayback()
    client = http or httpx.Client(timeout=10.0, trust_env=False)

    def post_all(events: list[tuple[str, dict[str, Any]]]) -> None:
        for suffix, data in events:
            time.sleep(delay)
            json_text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            form = {"vpbx_api_key": api_key, "sign": sign(api_key, json_text, api_salt), "json": json_text}
            try:
                status = client.post(base + suffix, data=form).status_code
            except httpx.HTTPError as problem:
                with playback._lock:
                    playback.errors.append(f"{suffix}: {problem}")
                return
            with playback._lock:
                playback.posted.append((suffix, data, status))

    def callback(call: ApiCall) -> Response:
        events = callback_events(call.data, base_time=int(time.time()), talk_seconds=talk_seconds)
        thread = threading.Thread(
            target=post_all, args=(events,), name="mango-callback-playback", daemon=True
        )
        with playback._lock:
            playback._threads.append(thread)
        thread.start()
        return call.ok()

    mango.register_method("commands/callback", callback)
    return playback
