"""BPMSoft's web services on 127.0.0.1: forms login, the OData 4 service, faults and control endpoints.

A request goes through, in order: a fault (outage, 5xx, 429, latency) → the session cookie (401
without a live one) → the `BPMCSRF` header (403 when it does not match the session's token) → the
OData handler (JSON, or the `{"error": {"code", "message"}}` envelope).
"""

from __future__ import annotations

import json
import re
import secrets
import traceback
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.crm.bpmsoft import query as q
from sandbox.crm.bpmsoft.schema import FUNCTIONAL_ROLE_TYPE, OUR_PREFIX, csdl, sandbox_id
from sandbox.crm.bpmsoft.store import SUPERVISOR, InstanceStore, ODataError
from sandbox.faults import Clock, OutageFault, apply_fault_request
from sandbox.logged_server import LoggedRequest, LoggedServer
from sandbox.request_bodies import json_body

DEFAULT_LOGIN = "Supervisor"
DEFAULT_PASSWORD = "sandbox-Supervisor-1"
LOGIN_PATH = "/ServiceModel/AuthService.svc/Login"
MAX_BATCH = 100
JSON_TYPE = "application/json; odata.metadata=minimal; charset=utf-8"
_KEYED = re.compile(r"^(?P<entity>\w+)\((?P<id>[^)]*)\)$")


class BpmFault(OutageFault):
    """A fault for the BPMSoft sandbox; `expire_sessions: true` acts once, when added: every session
    ends, so the next request gets 401."""

    expire_sessions: bool = False


@dataclass
class Session:
    user: str
    contact_id: str
    session_id: str
    auth: str
    csrf: str
    csrf_issued: bool


@dataclass
class BpmLoggedRequest(LoggedRequest):
    user: str | None = None
    error: str | None = None


class BpmSoftSandbox(LoggedServer[BpmFault]):
    """A BPMSoft instance with the MANGO OFFICE package; embeddable (`wsgi_app`) or standalone (`start`).
    `url` is the instance's address as a customer types it into «URL сервиса BPMSoft»."""

    thread_name = "bpmsoft-sandbox"
    log_entry = BpmLoggedRequest

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        net8: bool = False,
        login: str = DEFAULT_LOGIN,
        password: str = DEFAULT_PASSWORD,
        csrf_on_root: bool = False,
        app_installed: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(host, port, BpmFault, clock)
        self.net8 = net8
        self.csrf_on_root = csrf_on_root
        self.store = InstanceStore(self._now)
        self.store.reset(app_installed=app_installed)
        self.accounts: dict[str, dict[str, str]] = {
            login: {"password": password, "contact": SUPERVISOR["contact"]}
        }
        self.sessions: dict[str, Session] = {}

    @property
    def odata_prefix(self) -> str:
        """`/0/odata` on .NET Framework deployments, `/odata` on .NET 8 ones."""
        return "/odata" if self.net8 else "/0/odata"

    # -- Python API ------------------------------------------------------------------------------

    def add_fault(self, fault: BpmFault | dict[str, Any]) -> BpmFault:
        parsed = self._faults.parse(fault)
        if parsed.expire_sessions:
            with self._lock:
                self.sessions.clear()
        if parsed.acts_on_requests:
            self._faults.add(parsed)
        return parsed

    def reset(
        self,
        *,
        app_installed: bool = True,
        drop_columns: dict[str, list[str]] | None = None,
        prefix: str | None = None,
        captions: bool = True,
    ) -> None:
        """A fresh instance (sessions survive, so a running bridge stays logged in): our package, or the
        same columns under another `prefix`, or none (`app_installed=False`)."""
        with self._lock:
            self.store.reset(
                app_installed=app_installed,
                drop_columns=drop_columns,
                prefix=prefix or OUR_PREFIX,
                captions=captions,
            )
            self._faults.clear()
            self._requests.clear()

    def seed(self, **data: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Preload rows: `users` ({id?, name, active?, login?, roles?} → a contact, its SysAdminUnit and its
        functional roles), then any
        entity by name (`Account`, `Contact`, `Lead`, …) in OData shape; checked like API writes."""
        created: dict[str, list[str]] = {}
        with self._lock:
            for user in data.pop("users", None) or []:
                contact_id = user.get("id") or sandbox_id(f"contact:{user['name']}")
                self.store.create("Contact", {"Id": contact_id, "Name": user["name"]}, SUPERVISOR["contact"])
                self.store.create(
                    "SysAdminUnit",
                    {
                        "Id": sandbox_id(f"user:{contact_id}"),
                        "Name": user.get("login") or user["name"],
                        "Active": bool(user.get("active", True)),
                        "SysAdminUnitTypeValue": 4,
                        "ContactId": contact_id,
                    },
                    SUPERVISOR["contact"],
                )
                for role in user.get("roles") or []:
                    self._grant(sandbox_id(f"user:{contact_id}"), str(role))
                created.setdefault("users", []).append(contact_id)
            for name in (
                "Account",
                "Contact",
                "Lead",
                *[k for k in data if k not in ("Account", "Contact", "Lead")],
            ):
                for values in data.get(name) or []:
                    row = self.store.create(name, values, SUPERVISOR["contact"])
                    created.setdefault(name, []).append(row["Id"])
        return created

    def _grant(self, user_unit: str, role: str) -> None:
        """Membership of a functional role (a SysAdminUnit of type 6), creating the role when new."""
        role_id = sandbox_id(f"role:{role}")
        if role_id not in self.store.tables["SysAdminUnit"]:
            self.store.create(
                "SysAdminUnit",
                {"Id": role_id, "Name": role, "Active": True, "SysAdminUnitTypeValue": FUNCTIONAL_ROLE_TYPE},
                SUPERVISOR["contact"],
            )
        self.store.create(
            "SysUserInRole",
            {"Id": sandbox_id(f"member:{user_unit}:{role_id}"), "SysUserId": user_unit, "SysRoleId": role_id},
            SUPERVISOR["contact"],
        )

    def configure(self, **config: Any) -> dict[str, Any]:
        with self._lock:
            if "csrf_on_root" in config:
                self.csrf_on_root = bool(config["csrf_on_root"])
            if "net8" in config:
                self.net8 = bool(config["net8"])
            if "password" in config:
                login = str(config.get("login") or DEFAULT_LOGIN)
                self.accounts.setdefault(login, {"contact": SUPERVISOR["contact"]})["password"] = str(
                    config["password"]
                )
            return self._config()

    def _config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "odata": self.url + self.odata_prefix,
            "net8": self.net8,
            "csrf_on_root": self.csrf_on_root,
            "app_installed": self.store.app_installed,
            "package_prefix": self.store.prefix,
            "dropped_columns": self.store.dropped,
            "logins": sorted(self.accounts),
            "now": self._now(),
        }

    def rows(self, entity: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self.store.tables.get(entity, {}).values()]

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self._config(),
                **self.store.dump(),
                "sessions": [asdict(s) for s in self.sessions.values()],
                "faults": self._faults.dump(),
                "requests": [entry.as_dict() for entry in self._requests],
            }

    # -- WSGI ------------------------------------------------------------------------------------

    def _fault_response(self, status: int) -> Response:
        if status == 429:
            return Response(
                json.dumps(ODataError(429, "Too many requests").body()),
                status=429,
                headers={"Retry-After": "1"},
                content_type=JSON_TYPE,
            )
        if status == 401:
            return _json(ODataError(401, "Authorization has been denied for this request.").body(), 401)
        return _json(ODataError(status, "Injected by the sandbox").body(), status)

    def _dispatch(self, request: Request, entry: BpmLoggedRequest) -> Response:
        try:
            return self._route(request, entry)
        except ODataError as error:
            return _json(error.body(), error.status)
        except q.QueryError as error:
            return _json(ODataError(400, str(error)).body(), 400)
        except Exception as error:
            entry.error = traceback.format_exc()
            return _json(ODataError(500, f"sandbox error: {error!r}").body(), 500)

    def _route(self, request: Request, entry: BpmLoggedRequest) -> Response:
        path = request.path
        if path == LOGIN_PATH and request.method == "POST":
            return self._login(request)
        if path in ("/", "/0", "/0/") and request.method == "GET":
            return self._root(request)
        prefix = self.odata_prefix
        if not (path == prefix or path.startswith(prefix + "/")):
            raise ODataError(404, f"No HTTP resource was found that matches the request URI '{path}'.")
        session = self._session(request)
        entry.user = session.user
        resource = path[len(prefix) :].strip("/")
        if resource == "$batch" and request.method == "POST":
            return self._batch(request, session)
        body = _json_body(request)
        with self._lock:
            status, answer = self._odata(request.method, resource, request.args.to_dict(), body, session)
        return _json(answer, status) if answer is not None or status != 204 else Response(status=204)

    # -- auth ------------------------------------------------------------------------------------

    def _login(self, request: Request) -> Response:
        body = _json_body(request) or {}
        account = self.accounts.get(str(body.get("UserName") or ""))
        if account is None or account.get("password") != body.get("UserPassword"):
            said = "Неверное имя пользователя или пароль."
            answer = {
                "Code": 1,
                "Message": "",
                "Exception": {
                    "HelpLink": None,
                    "InnerException": None,
                    "Message": said,
                    "StackTrace": None,
                    "Type": "BPMSoft.Authentication.AuthenticationException",
                },
                "PasswordChangeUrl": None,
                "RedirectUrl": None,
            }
            return Response(json.dumps(answer, ensure_ascii=False), status=200, mimetype="application/json")
        session = Session(
            user=str(body["UserName"]),
            contact_id=account["contact"],
            session_id=secrets.token_hex(12),
            auth=secrets.token_hex(24),
            csrf=secrets.token_urlsafe(16),
            csrf_issued=not self.csrf_on_root,
        )
        with self._lock:
            self.sessions[session.auth] = session
        answer = {"Code": 0, "Message": "", "Exception": None, "PasswordChangeUrl": None, "RedirectUrl": None}
        response = Response(json.dumps(answer), status=200, mimetype="application/json")
        response.set_cookie("BPMSESSIONID", session.session_id, httponly=True, path="/")
        response.set_cookie(".ASPXAUTH", session.auth, httponly=True, path="/")
        response.set_cookie("BPMLOADER", secrets.token_hex(8), path="/")
        response.set_cookie("UserName", session.user, path="/")
        if session.csrf_issued:
            response.set_cookie("BPMCSRF", session.csrf, path="/")
        return response

    def _root(self, request: Request) -> Response:
        """The application page; installs that hand out `BPMCSRF` late do it here."""
        response = Response("<html><body>BPMSoft</body></html>", mimetype="text/html")
        with self._lock:
            session = self.sessions.get(request.cookies.get(".ASPXAUTH", ""))
            if session is not None:
                session.csrf_issued = True
                response.set_cookie("BPMCSRF", session.csrf, path="/")
        return response

    def _session(self, request: Request) -> Session:
        with self._lock:
            session = self.sessions.get(request.cookies.get(".ASPXAUTH", ""))
        if session is None or request.cookies.get("BPMSESSIONID") != session.session_id:
            raise ODataError(401, "Authorization has been denied for this request.")
        if not session.csrf_issued or request.headers.get("BPMCSRF") != session.csrf:
            raise ODataError(403, "The CSRF token (BPMCSRF header) is missing or does not match the session.")
        return session

    # -- OData -----------------------------------------------------------------------------------

    def _odata(
        self, method: str, resource: str, args: dict[str, str], body: Any, session: Session
    ) -> tuple[int, Any]:
        context = f"{self.url}{self.odata_prefix}/$metadata"
        if resource == "$metadata":
            if method != "GET":
                raise ODataError(405, "The requested resource does not support this method.")
            return 200, _Raw(csdl(self.store.schema), "application/xml")
        if resource.endswith("/$count"):
            rows, total = self.store.query(
                resource[: -len("/$count")],
                filter_text=args.get("$filter"),
                orderby=None,
                top=None,
                skip=None,
            )
            return 200, _Raw(str(total), "text/plain")
        keyed = _KEYED.match(resource)
        if keyed:
            name, row_id = keyed.group("entity"), keyed.group("id").strip("'").removeprefix("guid")
            row_id = row_id.strip("'")
            if method == "GET":
                row = self.store.get(name, row_id)
                select, expand = q.parse_select(args.get("$select")), q.parse_expand(args.get("$expand"))
                return 200, {
                    "@odata.context": f"{context}#{name}/$entity",
                    **self.store.render(name, row, select, expand),
                }
            if method == "PATCH":
                self.store.update(name, row_id, body, session.contact_id)
                return 204, None
            if method == "DELETE":
                self.store.delete(name, row_id)
                return 204, None
            raise ODataError(405, "The requested resource does not support this method.")
        if "/" in resource or not resource:
            raise ODataError(404, f"No HTTP resource was found that matches the request URI '{resource}'.")
        if method == "GET":
            rows, total = self.store.query(
                resource,
                filter_text=args.get("$filter"),
                orderby=args.get("$orderby"),
                top=q.non_negative(args.get("$top"), "$top"),
                skip=q.non_negative(args.get("$skip"), "$skip"),
            )
            select, expand = q.parse_select(args.get("$select")), q.parse_expand(args.get("$expand"))
            answer: dict[str, Any] = {"@odata.context": f"{context}#{resource}"}
            if (args.get("$count") or "").lower() == "true":
                answer["@odata.count"] = total
            answer["value"] = [self.store.render(resource, row, select, expand) for row in rows]
            return 200, answer
        if method == "POST":
            row = self.store.create(resource, body, session.contact_id)
            return 201, {
                "@odata.context": f"{context}#{resource}/$entity",
                **self.store.render(resource, row, None, []),
            }
        raise ODataError(405, "The requested resource does not support this method.")

    def _batch(self, request: Request, session: Session) -> Response:
        """`$batch` in OData 4.01 JSON format; stops at the first failure unless `Prefer:
        continue-on-error`."""
        body = _json_body(request)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list):
            raise ODataError(400, "A JSON batch request needs a 'requests' array.")
        if len(requests) > MAX_BATCH:
            raise ODataError(400, f"The batch has {len(requests)} requests; at most {MAX_BATCH} are allowed.")
        go_on = "continue-on-error" in (request.headers.get("Prefer") or "").lower()
        responses = []
        for index, item in enumerate(requests):
            item = item if isinstance(item, dict) else {}
            item_id = str(item.get("id") or index + 1)
            method = str(item.get("method") or "GET").upper()
            try:
                resource, args = self._relative(str(item.get("url") or ""))
                with self._lock:
                    status, answer = self._odata(method, resource, args, item.get("body"), session)
            except ODataError as error:
                status, answer = error.status, error.body()
            except q.QueryError as error:
                status, answer = 400, ODataError(400, str(error)).body()
            result: dict[str, Any] = {"id": item_id, "status": status, "headers": {"content-type": JSON_TYPE}}
            if isinstance(answer, _Raw):
                result["body"] = answer.text
            elif answer is not None:
                result["body"] = answer
            responses.append(result)
            if status >= 400 and not go_on:
                break
        return _json({"responses": responses}, 200)

    def _relative(self, url: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(url)
        path = parts.path
        if path.startswith(self.odata_prefix + "/"):
            path = path[len(self.odata_prefix) :]
        elif path.startswith("/"):
            raise ODataError(404, f"No HTTP resource was found that matches the request URI '{url}'.")
        args = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        return path.strip("/"), args

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, what: str) -> Response:
        try:
            body = _json_body(request) if request.method in ("POST", "DELETE") else None
            body = body if body is not None else {}
            if what == "state" and request.method == "GET":
                return _json(self.state(), 200)
            if what == "reset" and request.method == "POST":
                self.reset(
                    app_installed=bool(body.get("app_installed", True)),
                    drop_columns=body.get("drop_columns"),
                    prefix=body.get("prefix"),
                    captions=bool(body.get("captions", True)),
                )
                return _json({"ok": True}, 200)
            if what == "faults":
                apply_fault_request(request.method, body, self.add_fault, self.clear_faults)
                return _json({"faults": self._faults.dump()}, 200)
            if what == "seed" and request.method == "POST":
                return _json(self.seed(**body), 200)
            if what == "config" and request.method == "POST":
                return _json(self.configure(**body), 200)
        except ODataError as error:
            return _json(error.body(), error.status)
        except (ValueError, TypeError, KeyError) as error:
            return _json({"error": str(error)}, 400)
        return _json({"error": f"no control endpoint {request.method} /_sandbox/{what}"}, 404)


@dataclass
class _Raw:
    text: str
    mimetype: str


def _json(body: Any, status: int) -> Response:
    if isinstance(body, _Raw):
        return Response(body.text, status=status, mimetype=body.mimetype)
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_TYPE)


def _json_body(request: Request) -> Any:
    return json_body(request, lambda: ODataError(400, "The request body is not valid JSON."))


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox on its own: `python -m sandbox.crm.bpmsoft --port 3003`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.crm.bpmsoft", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3003)
    parser.add_argument("--net8", action="store_true", help="serve OData at /odata (.NET 8 deployments)")
    args = parser.parse_args(argv)
    sandbox = BpmSoftSandbox(args.host, args.port, net8=args.net8).start()
    print(f"BPMSoft sandbox at {sandbox.url} (login {DEFAULT_LOGIN} / {DEFAULT_PASSWORD})", flush=True)
    sandbox.run_until_interrupted()
    return 0
