"""Megaplan's API v3 on 127.0.0.1: auth, the `{meta, data}` envelope, JSON-in-query GETs, faults and
control endpoints. See the package doc for the endpoint list.

Order of events for a request: a fault answers first (like a front end before the account); then
`/api/v3/…` (except the token endpoint) needs a live bearer token (header or `access_token` in the
JSON query) → 401 otherwise; then the handler answers the envelope, 422 with `meta.errors` for a
request Megaplan refuses, 404 for an unknown route or entity.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.crm.megaplan.store import CONTRACTOR_TYPES, Invalid, MegaplanStore, problem
from sandbox.faults import Clock, FaultBook, OutageFault, apply_fault_request
from sandbox.loopback import LoopbackServer

DEFAULT_LOGIN = "integration@megaplan.test"
DEFAULT_PASSWORD = "sandbox-megaplan-password"
DEFAULT_TOKEN_TTL = 172_800
MAX_LIMIT = 100
PATHS = {"contractorHuman": "ContractorHuman", "contractorCompany": "ContractorCompany", "contractor": None}
CLIENT_KIND = "<any(contractorHuman,contractorCompany):kind>"


class MegaplanFault(OutageFault):
    """`expire_tokens: true` acts once, when added: every access token issued so far stops working
    (refresh tokens keep working)."""

    expire_tokens: bool = False


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: Any
    body: Any
    status: int
    fault: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def envelope(
    data: Any, status: int = 200, errors: list[dict[str, Any]] | None = None, **meta: Any
) -> Response:
    body = {"meta": {"status": status, "errors": errors or [], **meta}, "data": data}
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def error(status: int, message: str, *fields: str) -> Response:
    return envelope(None, status, [problem(message, *fields)])


class MegaplanSandbox(LoopbackServer):
    thread_name = "megaplan-sandbox"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        login: str = DEFAULT_LOGIN,
        password: str = DEFAULT_PASSWORD,
        clock: Clock = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.login, self.password = login, password
        self.clock = clock
        self.store = MegaplanStore()
        self.faults: FaultBook[MegaplanFault] = FaultBook(MegaplanFault, clock)
        self.token_ttl = DEFAULT_TOKEN_TTL
        self._tokens: dict[str, float] = {}
        self._refresh: dict[str, str] = {}
        self._auth_lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self.url_map = Map(
            [
                Rule("/api/v3/auth/access_token", endpoint="token", methods=["POST"]),
                Rule("/api/v3/employee", endpoint="employees", methods=["GET"]),
                Rule("/api/v3/employee/<id>", endpoint="employee", methods=["GET"]),
                Rule("/api/v3/program", endpoint="programs", methods=["GET"]),
                Rule("/api/v3/program/<id>/states", endpoint="states", methods=["GET"]),
                Rule("/api/v3/contractor", endpoint="contractors", methods=["GET", "POST"]),
                # docs r2510 «Клиент-компания»: GET /api/v3/contractorCompany/search {q} → BaseEntity[]
                Rule("/api/v3/contractorCompany/search", endpoint="company_search", methods=["GET"]),
                # RAML r2510 (borzov/megaplan-sdk MISSING_ENDPOINTS_REPORT §1.2, get_deals)
                Rule("/api/v3/contractor/<id>/deals", endpoint="contractor_deals", methods=["GET"]),
                # docs r2510: GET /api/v3/{contractorHuman|contractorCompany}/extraFields («Получить
                # список полей для сущности»), POST …/extraFields/{id} («Создание нового поля»)
                Rule(f"/api/v3/{CLIENT_KIND}/extraFields", endpoint="extra_fields", methods=["GET"]),
                Rule(f"/api/v3/{CLIENT_KIND}/extraFields/<id>", endpoint="new_extra_field", methods=["POST"]),
                Rule(
                    "/api/v3/<any(contractorHuman,contractorCompany):kind>",
                    endpoint="create_contractor",
                    methods=["POST"],
                ),
                Rule(
                    "/api/v3/<any(contractor,contractorHuman,contractorCompany):kind>/<id>",
                    endpoint="contractor",
                    methods=["GET", "POST"],
                ),
                Rule(
                    "/api/v3/<any(contractor,contractorHuman,contractorCompany,deal):kind>/<id>/comments",
                    endpoint="comments",
                    methods=["GET", "POST"],
                ),
                Rule("/api/v3/deal", endpoint="deals", methods=["GET", "POST"]),
                Rule("/api/v3/deal/<id>", endpoint="deal", methods=["GET", "POST"]),
                Rule("/api/v3/deal/<id>/applyTransition", endpoint="transition", methods=["POST"]),
                # docs r2510 «Телефония. Звонок»: GET /callInfo (paging only), POST /callInfo (creates
                # and activates the telephony widget), GET|POST /callInfo/provider {providerId},
                # GET|POST /callInfo/history (an array of finished CallInfo, no widget event)
                Rule("/api/v3/callInfo", endpoint="calls", methods=["GET", "POST"]),
                Rule("/api/v3/callInfo/provider", endpoint="call_by_provider", methods=["GET", "POST"]),
                Rule("/api/v3/callInfo/history", endpoint="call_history", methods=["GET", "POST"]),
                Rule("/api/v3/callInfo/<id>", endpoint="call", methods=["GET", "POST"]),
                Rule("/_sandbox/state", endpoint="ctl_state", methods=["GET"]),
                Rule("/_sandbox/reset", endpoint="ctl_reset", methods=["POST"]),
                Rule("/_sandbox/faults", endpoint="ctl_faults", methods=["GET", "POST", "DELETE"]),
                Rule("/_sandbox/seed", endpoint="ctl_seed", methods=["POST"]),
                Rule("/_sandbox/config", endpoint="ctl_config", methods=["POST"]),
                Rule("/_sandbox/tokens", endpoint="ctl_tokens", methods=["POST"]),
            ],
            strict_slashes=False,
        )

    @property
    def url(self) -> str:
        return self.origin

    # -- Python control (the same as the HTTP control endpoints) ---------------------------------

    def state(self) -> dict[str, Any]:
        return {
            **self.store.snapshot(),
            "faults": self.faults.dump(),
            "requests": [r.as_dict() for r in self.requests[-2000:]],
            "credentials": {"login": self.login},
        }

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        self.requests.clear()

    def seed(self, spec: dict[str, Any]) -> dict[str, list[str]]:
        """`employees`, `programs` (with `states`), `contractors` (API shape plus `phones`,
        `responsible_ids`) and `deals` (`program_id`, `state_id`, `contractor_id`, `manager_id`)."""
        made: dict[str, list[str]] = {"employees": [], "programs": [], "contractors": [], "deals": []}
        store = self.store
        with store.lock:
            for employee in spec.get("employees") or []:
                made["employees"].append(store.add_employee(employee)["id"])
            for program in spec.get("programs") or []:
                made["programs"].append(store.add_program(program)["id"])
            for item in spec.get("contractors") or []:
                kind = item.get("contentType", "ContractorHuman")
                body = {k: v for k, v in item.items() if k not in ("phones", "responsible_ids", "id")}
                if "phones" in item:
                    body["contactInfo"] = [{"type": "phone", "value": ph} for ph in item["phones"]]
                if "responsible_ids" in item:
                    body["responsibles"] = [
                        r if isinstance(r, dict) else {"contentType": "Employee", "id": str(r)}
                        for r in item["responsible_ids"]
                    ]
                made["contractors"].append(store.create_contractor(kind, body, author=None)["id"])
            for item in spec.get("deals") or []:
                contractor = store.contractors[str(item["contractor_id"])]
                deal = store.create_deal(
                    {
                        "name": item.get("name", "Сделка"),
                        "program": {"id": str(item.get("program_id", "9000001"))},
                        "manager": {"id": str(item.get("manager_id", "8000001"))},
                        "contractor": {"contentType": contractor["contentType"], "id": contractor["id"]},
                    },
                    author=None,
                )
                if item.get("state_id") and item["state_id"] != deal["state"]["id"]:
                    transition = store.transitions[(deal["state"]["id"], str(item["state_id"]))]
                    store.apply_transition(deal["id"], transition)
                made["deals"].append(deal["id"])
        return made

    def issue_token(self) -> dict[str, Any]:
        with self._auth_lock:
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            self._tokens[access] = self.clock() + self.token_ttl
            self._refresh[refresh] = access
        return {
            "access_token": access,
            "expires_in": self.token_ttl,
            "token_type": "bearer",
            "scope": None,
            "refresh_token": refresh,
        }

    def expire_tokens(self) -> None:
        with self._auth_lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def add_fault(self, fault: MegaplanFault | dict[str, Any]) -> MegaplanFault:
        parsed = self.faults.parse(fault)
        if parsed.expire_tokens:
            self.expire_tokens()
        if parsed.acts_on_requests:
            self.faults.add(parsed)
        return parsed

    # -- WSGI ------------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _query(self, request: Request) -> dict[str, Any]:
        raw = request.environ.get("QUERY_STRING", "")
        if not raw:
            return {}
        text = unquote(raw)
        try:
            query = json.loads(text)
        except ValueError:
            raise Invalid(problem("Параметры запроса должны быть JSON-объектом после «?»")) from None
        if not isinstance(query, dict):
            raise Invalid(problem("Параметры запроса должны быть JSON-объектом"))
        return query

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        control = path.startswith("/_sandbox/")
        query: Any = None
        body: Any = None
        fault = None if control else self.faults.take(path.removeprefix("/"))
        if fault is not None:
            fault.wait()
            if fault.status is not None:
                response = error(
                    fault.status, "Сервис временно недоступен" if fault.status >= 500 else "Too many requests"
                )
                self._log(request, None, None, fault.status, fault=True)
                return response
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, args = adapter.match()
            if control:
                return getattr(self, f"_{endpoint}")(request, **args)
            query = self._query(request)
            if endpoint != "token":
                if request.method == "POST":
                    body = self._body(request)
                if not self._authorised(request, query):
                    response = error(401, "Unauthorized: access token is missing, wrong or expired")
                    self._log(request, query, body, 401)
                    return response
            handler = getattr(self, f"_{endpoint}")
            response = (
                handler(request, query=query, body=body, **args) if endpoint != "token" else handler(request)
            )
        except Invalid as invalid:
            response = envelope(None, invalid.status, invalid.errors)
        except NotFound:
            response = error(404, f"Ресурс {path} не найден")
        except MethodNotAllowed:
            response = error(405, f"Метод {request.method} не поддерживается для {path}")
        except HTTPException as problem_:
            response = error(problem_.code or 500, problem_.description or "error")
        if not control:
            self._log(request, query, body, response.status_code)
        return response

    def _log(self, request: Request, query: Any, body: Any, status: int, *, fault: bool = False) -> None:
        self.requests.append(LoggedRequest(request.method, request.path, query, body, status, fault))

    @staticmethod
    def _body(request: Request) -> Any:
        """A JSON object; `POST /api/v3/callInfo/history` alone takes an array (docs r2510)."""
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise Invalid(problem("Тело запроса должно быть JSON")) from None
        if isinstance(body, list) and request.path.rstrip("/").endswith("/callInfo/history"):
            return body
        if not isinstance(body, dict):
            raise Invalid(problem("Тело запроса должно быть JSON-объектом"))
        return body

    def _authorised(self, request: Request, query: dict[str, Any]) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else query.get("access_token")
        with self._auth_lock:
            expires = self._tokens.get(str(token)) if token else None
        return expires is not None and self.clock() < expires

    def _query_str(self, query: dict[str, Any]) -> str | None:
        q = query.get("q")
        if q is not None and not isinstance(q, str):
            raise Invalid(problem("q должен быть строкой", "q"))
        return q

    def _author(self) -> str | None:
        """Everything the bridge writes is authored by the integration's user (Анна in the sandbox)."""
        return "8000001"

    # -- auth ------------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = dict(request.form)
        if not form and request.is_json:
            form = request.get_json(silent=True) or {}
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("username") != self.login or form.get("password") != self.password:
                return Response(
                    json.dumps({"error": "invalid_grant", "error_description": "Неверный логин или пароль"}),
                    status=400,
                    mimetype="application/json",
                )
            return Response(json.dumps(self.issue_token()), mimetype="application/json")
        if grant == "refresh_token":
            with self._auth_lock:
                old = self._refresh.pop(str(form.get("refresh_token")), None)
                if old is not None:
                    self._tokens.pop(old, None)
            if old is None:
                return Response(
                    json.dumps({"error": "invalid_grant", "error_description": "Refresh token is invalid"}),
                    status=400,
                    mimetype="application/json",
                )
            return Response(json.dumps(self.issue_token()), mimetype="application/json")
        return Response(
            json.dumps({"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}),
            status=400,
            mimetype="application/json",
        )

    # -- collections -----------------------------------------------------------------------------

    @staticmethod
    def _page(items: list[dict[str, Any]], query: dict[str, Any]) -> Response:
        limit = query.get("limit", MAX_LIMIT)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise Invalid(problem(f"limit должен быть от 1 до {MAX_LIMIT}", "limit"))
        after = query.get("pageAfter")
        start = 0
        if after is not None:
            if not isinstance(after, dict) or "id" not in after:
                raise Invalid(problem("pageAfter должен быть линк-сущностью", "pageAfter"))
            ids = [str(item["id"]) for item in items]
            if str(after["id"]) not in ids:
                raise Invalid(problem("pageAfter: сущность не найдена в коллекции", "pageAfter"))
            start = ids.index(str(after["id"])) + 1
        return envelope(items[start : start + limit], pagination={"count": len(items), "limit": limit})

    def _employees(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        items = sorted(self.store.employees.values(), key=lambda e: int(e["id"]))
        return self._page(items, query)

    def _employee(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        employee = self.store.employee(id)
        return envelope(employee) if employee else error(404, f"Сотрудник {id} не найден")

    def _programs(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        return self._page(list(self.store.programs.values()), query)

    def _states(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        if id not in self.store.states:
            return error(404, f"Программа {id} не найдена")
        return envelope(self.store.states[id])

    def _contractors(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        if request.method == "POST":
            return error(405, "Клиента создают через /api/v3/contractorHuman или /api/v3/contractorCompany")
        found = [self.store.in_collection(c) for c in self.store.search(self._query_str(query))]
        return self._page(found, query)

    def _company_search(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        return self._page(self.store.search_companies(self._query_str(query)), query)

    def _contractor_deals(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        return self._page(self.store.deals_of(id), query)

    def _create_contractor(
        self, request: Request, *, query: dict[str, Any], body: Any, kind: str
    ) -> Response:
        return envelope(self.store.create_contractor(PATHS[kind] or "", body, author=self._author()))

    def _contractor(
        self, request: Request, *, query: dict[str, Any], body: Any, kind: str, id: str
    ) -> Response:
        if request.method == "POST":
            if kind == "contractor":
                return error(
                    405, "Клиента изменяют через /api/v3/contractorHuman/{id} или contractorCompany/{id}"
                )
            return envelope(self.store.update_contractor(PATHS[kind], id, body))
        entity = self.store.contractors.get(id)
        if entity is None or (PATHS[kind] and entity["contentType"] != PATHS[kind]):
            return error(404, f"Клиент {id} не найден")
        return envelope(entity)

    def _comments(
        self, request: Request, *, query: dict[str, Any], body: Any, kind: str, id: str
    ) -> Response:
        subject = self.store.deals.get(id) if kind == "deal" else self.store.contractors.get(id)
        if subject is None or (PATHS.get(kind) and subject["contentType"] != PATHS[kind]):
            return error(404, f"Сущность {id} не найдена")
        if kind != "deal" and not self.store.contractor_comments:
            # borzov/megaplan-sdk README «Комментарии контрагентов»: «API возвращает ошибку 500 при
            # попытке получить или создать комментарии для контрагентов» (on real accounts)
            return error(500, "Internal server error")
        if request.method == "POST":
            at = datetime.fromtimestamp(self.clock(), UTC).isoformat()
            return envelope(self.store.add_comment(subject, body, author=self._author(), at=at))
        mine = [c for c in self.store.comments if c["subject"]["id"] == id]
        return self._page(mine, query)

    def _extra_fields(self, request: Request, *, query: dict[str, Any], body: Any, kind: str) -> Response:
        return self._page(self.store.fields_of(PATHS[kind] or ""), query)

    def _new_extra_field(
        self, request: Request, *, query: dict[str, Any], body: Any, kind: str, id: str
    ) -> Response:
        return envelope(self.store.add_extra_field(PATHS[kind] or "", body))

    def _deals(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        if request.method == "POST":
            return envelope(self.store.create_deal(body, author=self._author()))
        terms: list[dict[str, Any]] = []
        filter_ = query.get("filter")
        if filter_ is not None:
            try:
                terms = list(filter_["config"]["termGroup"]["terms"])
            except (KeyError, TypeError):
                raise Invalid(problem("filter: ожидается config.termGroup.terms", "filter")) from None
        return self._page(self.store.deals_for(terms), query)

    def _deal(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        if request.method == "POST":
            return envelope(self.store.update_deal(id, body))
        deal = self.store.deals.get(id)
        return envelope(self.store._deal_view(deal)) if deal else error(404, f"Сделка {id} не найдена")

    def _transition(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        if "transition" not in body:
            raise Invalid(problem("transition обязателен", "transition"))
        return envelope(self.store.apply_transition(id, body["transition"]))

    def _calls(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        if not self.store.telephony:
            raise NotFound()
        if request.method == "POST":
            return envelope(self.store.create_call(body))
        # docs r2510 list only paging parameters here: anything else (`providerId`) is ignored
        calls = sorted(self.store.calls.values(), key=lambda c: int(c["id"]))
        return self._page(calls, query)

    def _call_by_provider(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        if not self.store.telephony:
            raise NotFound()
        source = body if request.method == "POST" else query
        provider_id = source.get("providerId")
        if provider_id in (None, ""):
            raise Invalid(problem("providerId обязателен", "providerId"))
        call = self.store.call_by_provider(provider_id)
        if call is None:
            return error(404, f"Звонок с providerId {provider_id} не найден")
        if request.method == "POST":  # «редактироваться будет самый последний звонок»
            return self._call(request, query=query, body=body, id=call["id"])
        return envelope(call)

    def _call_history(self, request: Request, *, query: dict[str, Any], body: Any) -> Response:
        if not (self.store.telephony and self.store.call_history):
            raise NotFound()
        if request.method == "POST":
            return envelope(self.store.record_history(body))
        calls = sorted(self.store.calls.values(), key=lambda c: int(c["id"]))
        return self._page([c for c in calls if c["state"] == "finished"], query)

    def _call(self, request: Request, *, query: dict[str, Any], body: Any, id: str) -> Response:
        if not self.store.telephony:
            raise NotFound()
        call = self.store.calls.get(id)
        if call is None:
            return error(404, f"Звонок {id} не найден")
        if request.method == "POST":  # «при этом событие передается в виджет телефонии»
            for name in ("state", "recordLinks", "timeTo"):
                if name in body:
                    call[name] = body[name]
            self.store.widget_events.append({"call": call["id"], "state": call["state"]})
        return envelope(call)

    # -- control ---------------------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")

    def _ctl_state(self, request: Request) -> Response:
        return self._json(self.state())

    def _ctl_reset(self, request: Request) -> Response:
        self.reset()
        return self._json({"ok": True})

    def _ctl_faults(self, request: Request) -> Response:
        spec = request.get_json(silent=True) if request.method == "POST" else None
        faults = spec if isinstance(spec, list) else spec or {}
        apply_fault_request(request.method, faults, self.add_fault, self.faults.clear)
        return self._json(self.faults.dump())

    def _ctl_seed(self, request: Request) -> Response:
        try:
            return self._json(self.seed(request.get_json(silent=True) or {}))
        except Invalid as invalid:
            return self._json({"errors": invalid.errors}, 422)

    def _ctl_config(self, request: Request) -> Response:
        spec = request.get_json(silent=True) or {}
        if "telephony" in spec:
            self.store.telephony = bool(spec["telephony"])
        if "call_history" in spec:
            self.store.call_history = bool(spec["call_history"])
        if "contractor_comments" in spec:
            self.store.contractor_comments = bool(spec["contractor_comments"])
        if "token_ttl" in spec:
            self.token_ttl = int(spec["token_ttl"])
        return self._json(
            {
                "telephony": self.store.telephony,
                "call_history": self.store.call_history,
                "contractor_comments": self.store.contractor_comments,
                "token_ttl": self.token_ttl,
            }
        )

    def _ctl_tokens(self, request: Request) -> Response:
        return self._json(self.issue_token())


__all__ = ["CONTRACTOR_TYPES", "DEFAULT_LOGIN", "DEFAULT_PASSWORD", "MegaplanFault", "MegaplanSandbox"]
