"""Omnidesk's REST API on 127.0.0.1: routing, HTTP Basic auth, the per-minute limit, faults, control.

Order of events for a request, as a client sees it from outside Omnidesk:

1. a fault (outage, 5xx, 429, latency) answers first, like a front end before the account;
2. `/api/…` needs `Authorization: Basic base64(staff_email:api_key)` → 401 otherwise;
3. `/api/…` counts against the account's per-minute limit; every answer carries
   `rate_limit_per_minute`, `api_calls_left` and `retry_after`; over the limit → 429 (not counted);
4. the handler answers `{"case": {…}}`-style JSON, or `{"status": "error", "error", "description"}`.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.crm.omnidesk.forms import is_form, nested
from sandbox.crm.omnidesk.store import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL, AccountStore, OmnideskProblem
from sandbox.faults import Clock, OutageFault, apply_fault_request
from sandbox.logged_server import LoggedRequest, LoggedServer
from sandbox.rate_window import RateLimited, SlidingWindow
from sandbox.request_bodies import json_body

DEFAULT_RATE_LIMIT = 600
MAX_LIMIT = 100


class OmnideskFault(OutageFault):
    """A fault for the Omnidesk sandbox; `outage: true` answers 503 until cleared (or `for_seconds`)."""


@dataclass
class OmnideskLoggedRequest(LoggedRequest):
    staff_email: str | None = None


@dataclass
class MinuteWindow(SlidingWindow):
    """Omnidesk's per-minute allowance, told to the client in every answer's headers."""

    seconds: float = 60.0

    def headers(self) -> dict[str, str]:
        if self.limit is None:
            return {}
        now = self.clock()
        self._expire(now)
        left = max(0, self.limit - len(self._admitted))
        wait = 0 if left else max(1, math.ceil(self.seconds - (now - self._admitted[0])))
        return {
            "rate_limit_per_minute": str(self.limit),
            "api_calls_left": str(left),
            "retry_after": str(wait),
        }


URL_MAP = Map(
    [
        Rule("/api/users.json", endpoint="users", methods=["GET", "POST"]),
        Rule("/api/users/<int:user_id>.json", endpoint="user", methods=["GET", "PUT"]),
        Rule("/api/cases.json", endpoint="cases", methods=["GET", "POST"]),
        Rule("/api/cases/<int:case_id>.json", endpoint="case", methods=["GET", "PUT"]),
        Rule("/api/cases/<int:case_id>/messages.json", endpoint="messages", methods=["GET", "POST"]),
        Rule("/api/cases/<int:case_id>/note.json", endpoint="note", methods=["POST"]),
        Rule("/api/staff.json", endpoint="staff_list", methods=["GET"]),
        Rule("/api/staff/<int:staff_id>.json", endpoint="staff_one", methods=["GET"]),
        Rule("/api/labels.json", endpoint="labels", methods=["GET", "POST"]),
    ],
    strict_slashes=False,
)


class OmnideskSandbox(RateLimited, LoggedServer[OmnideskFault]):
    """Omnidesk's API with in-memory state; embeddable (`wsgi_app`) or standalone (`start`).
    `url` stands for the account's `https://<domain>.omnidesk.ru`."""

    thread_name = "omnidesk-sandbox"
    log_entry = OmnideskLoggedRequest

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(host, port, OmnideskFault, clock)
        self.store = AccountStore(self._now)
        self.window = MinuteWindow(rate_limit_per_minute, self._now)
        self.throttle_status = 429

    @property
    def credentials(self) -> dict[str, str]:
        """The built-in administrator's API login, as the bridge's secret holds it."""
        return {"staff_email": DEFAULT_STAFF_EMAIL, "api_key": DEFAULT_API_KEY}

    # -- Python API ------------------------------------------------------------------------------

    def add_fault(self, fault: OmnideskFault | dict[str, Any]) -> OmnideskFault:
        return self._faults.add(fault)

    def seed(self, **data: Any) -> dict[str, list[int]]:
        """Preload `staff` (`staff_id`/`id`, `staff_email`, `staff_full_name`/`name`, `active`, `api_key`),
        `users` (as `POST /api/users.json` takes them) and `labels` (titles)."""
        with self._lock:
            return self.store.seed(**data)

    def reset(self) -> None:
        with self._lock:
            self.store.reset()
            self._requests.clear()
            self._faults.clear()
            self.window.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": {
                    "url": self.url,
                    "rate_limit_per_minute": self.window.limit,
                    "throttle_status": self.throttle_status,
                    "case_list_honours_user_id": self.store.case_list_honours_user_id,
                    "now": self._now(),
                },
                **self.store.dump(),
                "faults": self._faults.dump(),
                "requests": [entry.as_dict() for entry in self._requests],
            }

    # -- WSGI ------------------------------------------------------------------------------------

    def _fault_response(self, status: int) -> Response:
        throttled = status == self.throttle_status
        response = self._throttled() if throttled else _error(status, "injected", "Injected by the sandbox")
        if throttled or status == 429:
            response.headers["retry_after"] = "1"
        return response

    def _dispatch(self, request: Request, entry: OmnideskLoggedRequest) -> Response:
        try:
            endpoint, args = URL_MAP.bind_to_environ(request.environ).match()
        except MethodNotAllowed:
            return _error(405, "method_not_allowed", f"{request.method} is not allowed here")
        except NotFound:
            return _error(404, "not_found", f"{request.path} is not an Omnidesk API endpoint")
        except HTTPException as exc:
            return _error(exc.code or 400, "bad_request", exc.description or "")
        staff = self._authenticate(request)
        if staff is None:
            return _error(401, "unauthorized", "Wrong staff e-mail or API key")
        entry.staff_email = staff["staff_email"]
        with self._lock:
            if not self.window.admit():
                response = self._throttled()
                response.headers.update(self.window.headers())
                return response
            try:
                body = _api_body(request)
                response = getattr(self, f"_api_{endpoint}")(request, body, **args)
            except OmnideskProblem as problem:
                response = _error(problem.status, problem.error, problem.description)
            response.headers.update(self.window.headers())
            return response

    def _throttled(self) -> Response:
        """Over the limit. Omnidesk's docs give the headers but no status: 429 by default, or (config
        `throttle_status: 403`) the 403 «rate limit exceeded» the Ruby gem `omnidesk_api` expects."""
        if self.throttle_status == 403:
            return _error(403, "rate limit exceeded", "API rate limit exceeded: wait for retry_after seconds")
        return _error(429, "rate_limit_exceeded", "Too many requests: wait for retry_after seconds")

    def _authenticate(self, request: Request) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            email, _, key = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        with self._lock:
            staff = self.store.authenticate(email, key)
        return staff if staff is not None and staff["active"] else None

    # -- API handlers ----------------------------------------------------------------------------

    def _api_users(self, request: Request, body: Any) -> Response:
        if request.method == "POST":
            return _ok({"user": self.store.create_user(_wrapped(body, "user"))}, 201)
        filters = {
            key: request.args.get(key, "")
            for key in ("user_phone", "user_email", "user_custom_id", "user_full_name")
        }
        return _listing(self.store.search_users(filters), "user", request)

    def _api_user(self, request: Request, body: Any, user_id: int) -> Response:
        if request.method == "PUT":
            return _ok({"user": self.store.update_user(user_id, _wrapped(body, "user"))})
        return _ok({"user": self.store.user_or_404(user_id)})

    def _api_cases(self, request: Request, body: Any) -> Response:
        if request.method == "POST":
            return _ok({"case": self.store.create_case(_wrapped(body, "case"))}, 201)
        filters = {key: request.args.getlist(key) for key in request.args}
        return _listing(self.store.list_cases(filters), "case", request)

    def _api_case(self, request: Request, body: Any, case_id: int) -> Response:
        if request.method == "PUT":
            return _ok({"case": self.store.update_case(case_id, _wrapped(body, "case"))})
        return _ok({"case": self.store.case_or_404(case_id)})

    def _api_messages(self, request: Request, body: Any, case_id: int) -> Response:
        if request.method == "POST":
            return _ok(
                {"message": self.store.add_message(case_id, _wrapped(body, "message"), note=False)}, 201
            )
        self.store.case_or_404(case_id)
        return _listing(self.store.messages_of(case_id), "message", request)

    def _api_note(self, request: Request, body: Any, case_id: int) -> Response:
        return _ok({"message": self.store.add_message(case_id, _wrapped(body, "note"), note=True)}, 201)

    def _api_staff_list(self, request: Request, body: Any) -> Response:
        return _listing(sorted(self.store.staff.values(), key=lambda s: s["staff_id"]), "staff", request)

    def _api_staff_one(self, request: Request, body: Any, staff_id: int) -> Response:
        return _ok({"staff": self.store.staff_or_404(staff_id)})

    def _api_labels(self, request: Request, body: Any) -> Response:
        if request.method == "POST":
            return _ok(
                {"label": self.store.create_label(str(_wrapped(body, "label").get("label_title") or ""))}, 201
            )
        return _listing(
            sorted(self.store.labels.values(), key=lambda label: label["label_id"]), "label", request
        )

    # -- control ---------------------------------------------------------------------------------

    def _control(self, request: Request, what: str) -> Response:
        try:
            body = _json_body(request) if request.method in ("POST", "PUT") else None
            if what == "state" and request.method == "GET":
                return _ok(self.state())
            if what == "reset" and request.method == "POST":
                self.reset()
                return _ok({"reset": True})
            if what == "faults":
                faults = body if isinstance(body, list) else body or {}
                apply_fault_request(request.method, faults, self.add_fault, self.clear_faults)
                return _ok({"faults": self._faults.dump()})
            if what == "seed" and request.method == "POST":
                return _ok(self.seed(**(body or {})))
            if what == "config" and request.method == "POST":
                if "rate_limit_per_minute" in (body or {}):
                    limit = body["rate_limit_per_minute"]
                    self.rate_limit = None if limit is None else int(limit)
                if "throttle_status" in (body or {}):
                    self.throttle_status = 403 if int(body["throttle_status"]) == 403 else 429
                if "case_list_honours_user_id" in (body or {}):
                    self.store.case_list_honours_user_id = bool(body["case_list_honours_user_id"])
                return _ok(self.state()["config"])
            if what == "clock" and request.method == "POST":
                advance = getattr(self.clock, "advance", None)
                if advance is None:
                    return _error(400, "clock_fixed", "this sandbox's clock cannot be moved")
                return _ok({"now": advance(float((body or {}).get("advance", 0)))})
        except OmnideskProblem as problem:
            return _error(problem.status, problem.error, problem.description)
        except (ValueError, TypeError) as problem:
            return _error(400, "bad_request", str(problem))
        return _error(404, "not_found", f"no control endpoint {request.method} /_sandbox/{what}")


def _ok(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def _error(status: int, error: str, description: str) -> Response:
    return _ok(OmnideskProblem(status, error, description).body(), status)


def _listing(items: list[dict[str, Any]], key: str, request: Request) -> Response:
    """Omnidesk's list shape: `{"0": {key: …}, "1": …, "total_count": N}`, paged by `page` / `limit`."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        limit = min(MAX_LIMIT, max(1, int(request.args.get("limit", MAX_LIMIT))))
    except ValueError:
        raise OmnideskProblem(400, "paging_invalid", "page and limit must be numbers") from None
    chunk = items[(page - 1) * limit : page * limit]
    body: dict[str, Any] = {str(index): {key: item} for index, item in enumerate(chunk)}
    body["total_count"] = len(items)
    return _ok(body)


def _wrapped(body: Any, key: str) -> dict[str, Any]:
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise OmnideskProblem(400, "body_invalid", f'the request body must be {{"{key}": {{…}}}}')
    return inner


def _json_body(request: Request) -> Any:
    return json_body(
        request, lambda: OmnideskProblem(400, "body_invalid", "the request body is not valid JSON")
    )


def _api_body(request: Request) -> Any:
    """JSON, or a bracketed form (`case[subject]=…`) as the docs' file upload and the Ruby gem send."""
    if is_form(request.content_type or ""):
        return nested(request.form.items(multi=True))
    return _json_body(request)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox on its own: `python -m sandbox.crm.omnidesk --port 3005`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.crm.omnidesk", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3005)
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT, help="per minute; 0 disables")
    args = parser.parse_args(argv)
    sandbox = OmnideskSandbox(args.host, args.port, rate_limit_per_minute=args.rate_limit or None).start()
    print(f"Omnidesk sandbox at {sandbox.url} (control: {sandbox.url}/_sandbox/state)", flush=True)
    print(json.dumps(sandbox.credentials), flush=True)
    sandbox.run_until_interrupted()
    return 0
