"""Misbehaviour the sandboxes inject on request, and the clocks they measure it with.

Every sandbox (Mango, the CRMs) describes faults the same way, so a test or an operator can say
"the next two requests fail with 503", "everything answers 503 for an hour" or "add 800 ms" without
learning each sandbox's dialect. Each sandbox decides how a failure looks on its wire.

* `path` — only requests whose path (without the leading slash, after the sandbox's own prefix)
  starts with it; none = every request.
* `status` — answer with this HTTP status instead of doing the work.
* `latency_ms` — wait this long first (wall time, whatever the clock says).
* `count` — how many requests it hits (default 1; null = until cleared or expired).
* `for_seconds` — expires this long after it was added, measured on the sandbox's clock, so tests
  can fast-forward an hour-long outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Clock = Callable[[], float]


class Fault(BaseModel):
    """A misbehaviour to inject into the next `count` matching requests."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    latency_ms: int = Field(default=0, ge=0)
    count: int | None = Field(default=1, ge=1)
    for_seconds: float | None = Field(default=None, gt=0)
    _expires_at: float | None = PrivateAttr(default=None)

    def matches(self, path: str) -> bool:
        return self.path is None or path.strip("/").startswith(self.path.strip("/"))

    def expired(self, now: float) -> bool:
        return self._expires_at is not None and now >= self._expires_at

    def wait(self) -> None:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def as_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "expires_at": self._expires_at}


class OutageFault(Fault):
    """A CRM sandbox's fault: `outage: true` is shorthand for 503 on every request until cleared,
    until `count` runs out or `for_seconds` pass (default: until cleared)."""

    outage: bool = False

    @model_validator(mode="after")
    def _outage_defaults(self) -> Self:
        if self.outage:
            self.status = self.status or 503
            if "count" not in self.model_fields_set:
                self.count = None
        return self

    @property
    def acts_on_requests(self) -> bool:
        """False for a fault that only acts once when added (e.g. expiring tokens)."""
        return self.status is not None or self.latency_ms > 0


FaultT = TypeVar("FaultT", bound=Fault)


def apply_fault_request(
    method: str, body: Any, add: Callable[[Any], object], clear: Callable[[], None]
) -> None:
    """`/_sandbox/faults` in every sandbox: POST adds one fault or a list of them, DELETE clears all."""
    if method == "POST":
        for item in body if isinstance(body, list) else [body]:
            add(item)
    elif method == "DELETE":
        clear()


class FaultBook(Generic[FaultT]):
    """The faults waiting for requests, first added first served; safe to share between threads."""

    def __init__(self, model: type[FaultT], clock: Clock = time.time) -> None:
        self._model = model
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: list[FaultT] = []

    def parse(self, fault: FaultT | Mapping[str, Any]) -> FaultT:
        return fault if isinstance(fault, self._model) else self._model.model_validate(fault)

    def add(self, fault: FaultT | Mapping[str, Any]) -> FaultT:
        parsed = self.parse(fault)
        if parsed.for_seconds is not None:
            parsed._expires_at = self._clock() + parsed.for_seconds
        with self._lock:
            self._faults.append(parsed)
        return parsed

    def take(self, path: str) -> FaultT | None:
        """The first live fault for `path`, with one use spent; None when the request should go through."""
        with self._lock:
            self._drop_expired()
            for fault in self._faults:
                if fault.matches(path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def dump(self) -> list[dict[str, Any]]:
        with self._lock:
            self._drop_expired()
            return [fault.as_dict() for fault in self._faults]

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._faults)

    def _drop_expired(self) -> None:
        now = self._clock()
        self._faults[:] = [fault for fault in self._faults if not fault.expired(now)]


class OffsetClock:
    """Wall-clock time that can be pushed forward, for a running stack whose tokens should expire now."""

    def __init__(self, base: Clock = time.time) -> None:
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self()


class ManualClock:
    """Time that stands still until a test moves it, so expiry tests take no real time."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
