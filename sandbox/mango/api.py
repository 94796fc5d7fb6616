"""The part of Mango's VPBX API the bridge calls (`https://app.mango-office.ru/vpbx/…`), in memory.

Requests are checked the way Mango checks them: POST only (3101), the `json` form field present
(3103), `vpbx_api_key` known (3105), `sign` = sha256(key + json + salt) over the raw field (3102),
`json` parseable (3400). Errors answer `{"result": <code>, "message": …}` with HTTP 420 Method
Failure as API v1.10 describes; `error_http_status=200` switches to the HTTP 200 + result style
that other clients observed, so the bridge can be tested against both readings.

Mango methods implemented:

* `POST /vpbx/queries/recording/post` {recording_id, action: download|play} → 302 to a one-shot
  `/files/<token>` link (a second GET is 404); unknown recording → 3320.
* `GET /vpbx/queries/recording/link/<recording_id>/<action>/<key>/<expires>/<sign>` → the same
  302 (pre-signed link; path segments are percent-decoded one by one, ids contain `/`).
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
* `POST /_sandbox/config` — `{"error_http_status": 200}`.

Faults act before any check, like a proxy or an overloaded front end in front of Mango would.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Request, Response

from mango_bridge.mango.signature import sign_recording_link, verify
from sandbox.faults import Fault as BaseFault
from sandbox.faults import FaultBook
from sandbox.loopback import LoopbackServer
from sandbox.mango.scenario import Delivery

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

RATE_LIMIT_BODY = {"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0, "status": 429}
RECORDING_ACTIONS = ("download", "play")
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
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.api_salt = api_salt
        self.error_http_status = error_http_status
        self._lock = threading.RLock()
        self._methods: dict[str, MethodHandler] = {"queries/recording/post": recording_post}
        self._requests: list[ReceivedRequest] = []
        self._commands: list[dict[str, Any]] = []
        self._recordings: dict[str, Recording] = {}
        self._links: dict[str, tuple[str, str]] = {}
        self._downloads: list[dict[str, Any]] = []
        self._faults: FaultBook[Fault] = FaultBook(Fault)

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
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._commands.clear()
            self._recordings.clear()
            self._links.clear()
            self._downloads.clear()
            self._faults.clear()

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

    def add_fault(self, fault: Fault | dict[str, Any]) -> Fault:
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def register_method(self, path: str, handler: MethodHandler) -> None:
        """Serve `POST /vpbx/<path>` with `handler` (called after key and sign are verified)."""
        self._methods[path.strip("/")] = handler

    # -- responses shared by handlers ------------------------------------------------------------

    def error_response(self, code: int, message: str) -> Response:
        return json_response({"result": code, "message": message}, status=self.error_http_status)

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
            return json_response(
                {"result": fault.result, "message": "injected fault"},
                status=fault.status or self.error_http_status,
            )
        return Response(status=fault.status or 500)

    def _log(self, method: str, path: str, json_text: str | None, data: Any, response: Response) -> None:
        result = None
        if response.mimetype == "application/json":
            try:
                body = json.loads(response.get_data())
                result = body.get("result") if isinstance(body, dict) else None
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
        if not verify(self.api_key, json_text, self.api_salt, request.form.get("sign", "")):
            return self.error_response(BAD_SIGN, "sign does not match"), json_text, None
        try:
            data = json.loads(json_text)
        except ValueError:
            return self.error_response(INVALID_JSON, "json is not valid JSON"), json_text, None
        if not isinstance(data, dict):
            return self.error_response(BAD_PARAMETER, "json must be an object"), json_text, data
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
            json_response(
                {"result": NOT_SUPPORTED, "message": f"the sandbox does not implement {path}"}, 404
            ),
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
        if sign_recording_link(self.api_key, int(expires), recording_id, self.api_salt) != signature.lower():
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
            if what == "config" and request.method == "POST":
                if "error_http_status" in body:
                    self.error_http_status = int(body["error_http_status"])
                return json_response({"error_http_status": self.error_http_status})
        except (ValidationError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"no control endpoint {request.method} /_sandbox/{what}"}, 404)

    def _control_faults(self, method: str, body: Any) -> Response:
        if method == "POST":
            for item in body if isinstance(body, list) else [body]:
                self.add_fault(item)
        elif method == "DELETE":
            self.clear_faults()
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
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
