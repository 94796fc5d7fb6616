"""What the amoCRM, BPMSoft and Omnidesk sandboxes share around their own handlers: `/_sandbox/…`
goes to the control endpoints; any other request meets the injected faults first (like a front end
before the account) and lands in a bounded request log that tests read instead of server logs."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Generic

from werkzeug.wrappers import Request, Response

from sandbox.faults import Clock, FaultBook, FaultT, OffsetClock
from sandbox.loopback import LoopbackServer
from sandbox.request_bodies import body_for_log

REQUEST_LOG_SIZE = 10_000


@dataclass
class LoggedRequest:
    """One request as the sandbox answered it; sandboxes add who made it."""

    method: str
    path: str
    query: str
    body: Any
    status: int
    at: float
    fault: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoggedServer(LoopbackServer, Generic[FaultT]):
    """Subclasses implement `_dispatch`, `_fault_response` and `_control`, and may widen `log_entry`."""

    log_entry: type[LoggedRequest] = LoggedRequest

    def __init__(self, host: str, port: int, fault_model: type[FaultT], clock: Clock | None) -> None:
        self.host = host
        self.port = port
        self.clock: Clock = clock or OffsetClock()
        self._lock = threading.RLock()
        self._faults: FaultBook[FaultT] = FaultBook(fault_model, self._now)
        self._requests: collections.deque[LoggedRequest] = collections.deque(maxlen=REQUEST_LOG_SIZE)

    def _now(self) -> float:
        """Reads `self.clock` on every call, so tests may swap the clock after construction."""
        return self.clock()

    @property
    def url(self) -> str:
        """The base URL the bridge is given as `crm.url`."""
        return self.origin

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_faults(self) -> None:
        self._faults.clear()

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self._control(request, request.path.removeprefix("/_sandbox/").strip("/"))
        else:
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        entry = self.log_entry(
            request.method,
            request.path,
            request.query_string.decode(),
            body_for_log(request),
            0,
            self._now(),
        )
        fault = self._faults.take(request.path.strip("/"))
        if fault is not None:
            fault.wait()
        if fault is not None and fault.status is not None:
            response = self._fault_response(fault.status)
            entry.fault = True
        else:
            response = self._dispatch(request, entry)
        entry.status = response.status_code
        with self._lock:
            self._requests.append(entry)
        return response

    def _dispatch(self, request: Request, entry: Any) -> Response:
        """The CRM's own answer; may note who asked on `entry`."""
        raise NotImplementedError

    def _fault_response(self, status: int) -> Response:
        """How an injected `status` looks on this CRM's wire."""
        raise NotImplementedError

    def _control(self, request: Request, what: str) -> Response:
        raise NotImplementedError
