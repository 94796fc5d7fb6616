"""amoCRM's API v4 on 127.0.0.1: routing, auth, the 7 requests/s limit, faults and control endpoints.

Order of events for a request, as a client would see it from outside amoCRM:

1. a fault (outage, 5xx, 429, latency) answers first, like a front end in front of the account;
2. `/api/…` counts against the account's limit (`rate_limit` per whole second, `limits.py`; over it → 429
   with an empty body, which is what amoCRM's own library expects; refused requests do not count);
3. `/api/…` needs `Authorization: Bearer <token>` → 401 problem+json otherwise;
4. the handler answers HAL JSON, 204 for an empty result, or problem+json.

Control endpoints (`/_sandbox/…`, no auth, no rate limit, no faults) are listed in the package doc.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.crm.amocrm.account import (
    ACCOUNT_ID,
    ACCOUNT_NAME,
    ADMIN_USER_ID,
    DATETIME_SETTINGS,
    TASK_TYPES,
    USERS_GROUPS,
)
from sandbox.crm.amocrm.incoming import IncomingLeads
from sandbox.crm.amocrm.limits import DOCUMENTED_PER_SECOND, SecondWindow
from sandbox.crm.amocrm.listing import page_links, page_of, paging, with_options
from sandbox.crm.amocrm.oauth import DEFAULT_REFRESH_TOKEN_TTL, OAuthProblem, TokenAuthority, TokenPair
from sandbox.crm.amocrm.seeding import Seeder
from sandbox.crm.amocrm.store import AccountStore
from sandbox.crm.amocrm.wire import (
    HAL_JSON,
    PROBLEM_JSON,
    ApiProblem,
    json_response,
    no_content,
    self_link,
    unauthorized,
)
from sandbox.faults import Clock, OutageFault, apply_fault_request
from sandbox.logged_server import LoggedRequest, LoggedServer
from sandbox.rate_window import RateLimited
from sandbox.request_bodies import json_body

DEFAULT_CLIENT_ID = "00000000-0000-4000-8000-00000000a0c0"
DEFAULT_CLIENT_SECRET = "sandbox-amocrm-client-secret-0000000000000000000000000000000000"
DEFAULT_REDIRECT_URI = "https://bridge.invalid/oauth/amocrm"
ENTITIES = "any(leads, contacts, companies)"
NOTE_OWNERS = "any(leads, contacts, companies, customers)"


class AmoFault(OutageFault):
    """A fault for the amoCRM sandbox; `expire_tokens: true` acts once, when added: every access token
    issued so far expires now (refresh tokens keep working), so the next call gets 401."""

    expire_tokens: bool = False


@dataclass
class AmoLoggedRequest(LoggedRequest):
    user_id: int | None = None
    error: str | None = None


URL_MAP = Map(
    [
        Rule("/oauth2/access_token", endpoint="oauth_token", methods=["POST"]),
        Rule("/oauth", endpoint="oauth_authorize", methods=["GET"]),
        Rule("/api/v4/account", endpoint="account", methods=["GET"]),
        Rule("/api/v4/users", endpoint="users", methods=["GET"]),
        Rule("/api/v4/users/<int:user_id>", endpoint="user", methods=["GET"]),
        Rule("/api/v4/leads/pipelines", endpoint="pipelines", methods=["GET"]),
        Rule("/api/v4/leads/pipelines/<int:pipeline_id>", endpoint="pipeline", methods=["GET"]),
        Rule("/api/v4/leads/pipelines/<int:pipeline_id>/statuses", endpoint="statuses", methods=["GET"]),
        Rule(
            "/api/v4/leads/pipelines/<int:pipeline_id>/statuses/<int:status_id>",
            endpoint="status",
            methods=["GET"],
        ),
        Rule("/api/v4/leads/unsorted", endpoint="unsorted_list", methods=["GET"]),
        Rule("/api/v4/leads/unsorted/sip", endpoint="unsorted_sip", methods=["POST"]),
        Rule("/api/v4/leads/unsorted/summary", endpoint="unsorted_summary", methods=["GET"]),
        Rule("/api/v4/leads/unsorted/<uid>", endpoint="unsorted_one", methods=["GET"]),
        Rule("/api/v4/leads/unsorted/<uid>/accept", endpoint="unsorted_accept", methods=["POST"]),
        Rule("/api/v4/leads/unsorted/<uid>/decline", endpoint="unsorted_decline", methods=["DELETE"]),
        Rule("/api/v4/leads/complex", endpoint="leads_complex", methods=["POST"]),
        Rule("/api/v4/calls", endpoint="calls", methods=["POST"]),
        Rule("/api/v4/tasks", endpoint="tasks", methods=["GET", "POST", "PATCH"]),
        Rule("/api/v4/tasks/<int:task_id>", endpoint="task", methods=["GET", "PATCH"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>", endpoint="entities", methods=["GET", "POST", "PATCH"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>/<int:entity_id>", endpoint="entity", methods=["GET", "PATCH"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>/custom_fields", endpoint="custom_fields", methods=["GET"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>/link", endpoint="links_batch", methods=["POST"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>/<int:entity_id>/link", endpoint="links_add", methods=["POST"]),
        Rule(f"/api/v4/<{ENTITIES}:kind>/<int:entity_id>/links", endpoint="links_list", methods=["GET"]),
        Rule(f"/api/v4/<{NOTE_OWNERS}:kind>/notes", endpoint="notes", methods=["GET", "POST"]),
        Rule(f"/api/v4/<{NOTE_OWNERS}:kind>/notes/<int:note_id>", endpoint="note", methods=["GET"]),
        Rule(
            f"/api/v4/<{NOTE_OWNERS}:kind>/<int:entity_id>/notes",
            endpoint="entity_notes",
            methods=["GET", "POST"],
        ),
        Rule(
            f"/api/v4/<{NOTE_OWNERS}:kind>/<int:entity_id>/notes/<int:note_id>",
            endpoint="entity_note",
            methods=["GET"],
        ),
    ],
    strict_slashes=False,
)


@dataclass
class ApiRequest:
    """One authenticated API request on its way to a handler."""

    request: Request
    user_id: int
    body: Any

    @property
    def args(self) -> MultiDict[str, str]:
        return self.request.args


class AmoCrmSandbox(RateLimited, LoggedServer[AmoFault]):
    """amoCRM's API v4 with in-memory state; embeddable (`wsgi_app`) or standalone (`start`).
    `url` stands for the account's `https://<subdomain>.amocrm.ru`."""

    thread_name = "amocrm-sandbox"
    log_entry = AmoLoggedRequest

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        subdomain: str = "demo",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        access_token_ttl: int = 86_400,
        refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL,
        rate_limit: int | None = DOCUMENTED_PER_SECOND,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(host, port, AmoFault, clock)
        self.subdomain = subdomain
        self.store = AccountStore(self._now, lambda: self.url)
        self.incoming = IncomingLeads(self.store)
        self.seeder = Seeder(self.store)
        self.auth = TokenAuthority(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            account_id=ACCOUNT_ID,
            subdomain=subdomain,
            default_user_id=ADMIN_USER_ID,
            clock=self._now,
        )
        self.window = SecondWindow(rate_limit, self._now)
        self.retry_after: int | None = None
        self._created_at = int(self._now())

    # -- Python API ------------------------------------------------------------------------------

    def issue_tokens(self, user_id: int | None = None) -> TokenPair:
        """An access + refresh pair as if the OAuth dance had just happened."""
        return self.auth.issue_pair(user_id)

    def issue_long_lived_token(self, ttl_seconds: int = 365 * 86_400, user_id: int | None = None) -> str:
        return self.auth.issue_long_lived(ttl_seconds, user_id)

    def issue_authorization_code(self, user_id: int | None = None) -> str:
        """A code for `grant_type=authorization_code`, as the redirect after consent would carry."""
        return self.auth.issue_code(user_id)

    def expire_access_tokens(self) -> int:
        return self.auth.expire_access_tokens()

    def add_fault(self, fault: AmoFault | dict[str, Any]) -> AmoFault:
        parsed = self._faults.parse(fault)
        if parsed.expire_tokens:
            self.auth.expire_access_tokens()
        if parsed.acts_on_requests:
            self._faults.add(parsed)
        return parsed

    def seed(self, **data: Any) -> dict[str, list[int]]:
        """Preload `users`, `companies`, `contacts`, `leads`, `tasks` and/or `preset="known_client"`."""
        with self._lock:
            return self.seeder.seed(**data)

    def reset(self, *, forget_tokens: bool = False) -> None:
        """Back to a fresh account; issued tokens survive unless `forget_tokens`, so a running bridge stays in."""
        with self._lock:
            self.store.reset()
            self.incoming.reset()
            self._requests.clear()
            self._faults.clear()
            self.window.clear()
            if forget_tokens:
                self.auth.forget()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "account": self._account_body(ADMIN_USER_ID, set()),
                "config": {
                    "url": self.url,
                    "subdomain": self.subdomain,
                    "client_id": self.auth.client_id,
                    "redirect_uri": self.auth.redirect_uri,
                    "access_token_ttl": self.auth.access_token_ttl,
                    "refresh_token_ttl": self.auth.refresh_token_ttl,
                    "rate_limit": self.window.limit,
                    "retry_after": self.retry_after,
                    "now": self._now(),
                },
                **self.store.dump(),
                "unsorted": self.incoming.dump(),
                "tokens": self.auth.dump(),
                "faults": self._faults.dump(),
                "requests": [entry.as_dict() for entry in self._requests],
            }

    # -- WSGI ------------------------------------------------------------------------------------

    def _too_many(self) -> Response:
        """A bare 429 as the docs describe it; `Retry-After` only when a test configured one."""
        response = Response(status=429)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response

    def _fault_response(self, status: int) -> Response:
        if status == 429:
            return self._too_many()
        if status == 401:
            return unauthorized().response()
        if status == 204:
            return no_content()
        return ApiProblem(status, "Injected by the sandbox").response()

    def _dispatch(self, request: Request, entry: AmoLoggedRequest) -> Response:
        try:
            endpoint, route_args = URL_MAP.bind_to_environ(request.environ).match()
            if request.path.strip("/").startswith("api/"):
                with self._lock:
                    admitted = self.window.admit()
                if not admitted:
                    return self._too_many()
                grant = self.auth.authenticate(request.headers.get("Authorization"))
                entry.user_id = grant.user_id
                req = ApiRequest(request, grant.user_id, _json_body(request))
                with self._lock:
                    return getattr(self, f"_api_{endpoint}")(req, **route_args)
            return getattr(self, f"_{endpoint}")(request)
        except OAuthProblem as exc:
            return exc.response()
        except ApiProblem as exc:
            return exc.response()
        except MethodNotAllowed:
            return ApiProblem(405, f"{request.method} is not allowed here").response()
        except NotFound:
            return ApiProblem(404, f"{request.path} is not an amoCRM sandbox endpoint").response()
        except HTTPException as exc:
            return ApiProblem(exc.code or 400, exc.description or "").response()
        except Exception as exc:
            entry.error = traceback.format_exc()
            return ApiProblem(500, f"sandbox error: {exc!r}").response()

    # -- OAuth -----------------------------------------------------------------------------------

    def _oauth_token(self, request: Request) -> Response:
        form: dict[str, Any] = dict(request.form) if request.form else {}
        if not form and request.data:
            try:
                parsed = json.loads(request.data)
            except ValueError as exc:
                raise OAuthProblem("The request body is neither JSON nor a form") from exc
            form = parsed if isinstance(parsed, dict) else {}
        return json_response(self.auth.exchange(form).as_dict(), mimetype="application/json")

    def _oauth_authorize(self, request: Request) -> Response:
        """The consent page, always approved: redirects with `code`, `state`, `referer`, `client_id`."""
        if request.args.get("client_id") != self.auth.client_id:
            raise ApiProblem(400, "unknown client_id")
        query = urlencode(
            {
                "code": self.auth.issue_code(),
                "state": request.args.get("state", ""),
                "referer": f"{self.subdomain}.amocrm.ru",
                "client_id": self.auth.client_id,
                "from_widget": 1,
            }
        )
        return Response(status=302, headers={"Location": f"{self.auth.redirect_uri}?{query}"})

    # -- account, users, pipelines ---------------------------------------------------------------

    def _account_body(self, user_id: int, with_: set[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ACCOUNT_ID,
            "name": ACCOUNT_NAME,
            "subdomain": self.subdomain,
            "created_at": self._created_at,
            "created_by": ADMIN_USER_ID,
            "updated_at": self._created_at,
            "updated_by": ADMIN_USER_ID,
            "current_user_id": user_id,
            "country": "RU",
            "currency": "RUB",
            "currency_symbol": "₽",
            "customers_mode": "disabled",
            "is_unsorted_on": True,
            "mobile_feature_version": 0,
            "is_loss_reason_enabled": True,
            "is_helpbot_enabled": False,
            "is_technical_account": False,
            "contact_name_display_order": 1,
            "_links": self_link(f"{self.url}/api/v4/account"),
        }
        if "amojo_id" in with_:
            body["amojo_id"] = "00000000-0000-4000-8000-0000000a0001"
        if "uuid" in with_:
            body["uuid"] = "00000000-0000-4000-8000-0000000a0002"
        if "version" in with_:
            body["version"] = 11
        if "is_api_filter_enabled" in with_:
            body["is_api_filter_enabled"] = False
        embedded: dict[str, Any] = {}
        if "users_groups" in with_:
            embedded["users_groups"] = list(USERS_GROUPS)
        if "task_types" in with_:
            embedded["task_types"] = list(TASK_TYPES)
        if "datetime_settings" in with_:
            embedded["datetime_settings"] = dict(DATETIME_SETTINGS)
        if embedded:
            body["_embedded"] = embedded
        return body

    def _api_account(self, req: ApiRequest) -> Response:
        return json_response(self._account_body(req.user_id, with_options(req.args)))

    def _api_users(self, req: ApiRequest) -> Response:
        users = [user.as_api(self.url) for user in self.store.users.values()]
        return self._page(req, "users", users)

    def _api_user(self, req: ApiRequest, user_id: int) -> Response:
        user = self.store.users.get(user_id)
        return json_response(user.as_api(self.url)) if user else no_content()

    def _api_pipelines(self, req: ApiRequest) -> Response:
        pipelines = [pipeline.as_api(self.url) for pipeline in self.store.pipelines.values()]
        body = {
            "_total_items": len(pipelines),
            "_links": self_link(f"{self.url}/api/v4/leads/pipelines"),
            "_embedded": {"pipelines": pipelines},
        }
        return json_response(body)

    def _pipeline_or_404(self, pipeline_id: int) -> Any:
        pipeline = self.store.pipelines.get(pipeline_id)
        if pipeline is None:
            raise ApiProblem(404, "Pipeline not found")
        return pipeline

    def _api_pipeline(self, req: ApiRequest, pipeline_id: int) -> Response:
        return json_response(self._pipeline_or_404(pipeline_id).as_api(self.url))

    def _api_statuses(self, req: ApiRequest, pipeline_id: int) -> Response:
        pipeline = self._pipeline_or_404(pipeline_id)
        statuses = [pipeline.status_as_api(status, self.url) for status in pipeline.statuses]
        body = {
            "_total_items": len(statuses),
            "_links": self_link(f"{self.url}/api/v4/leads/pipelines/{pipeline_id}/statuses"),
            "_embedded": {"statuses": statuses},
        }
        return json_response(body)

    def _api_status(self, req: ApiRequest, pipeline_id: int, status_id: int) -> Response:
        pipeline = self._pipeline_or_404(pipeline_id)
        status = pipeline.status(status_id)
        if status is None:
            raise ApiProblem(404, "Status not found")
        return json_response(pipeline.status_as_api(status, self.url))

    # -- contacts, companies, leads --------------------------------------------------------------

    def _page(
        self,
        req: ApiRequest,
        key: str,
        items: list[dict[str, Any]],
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """One page of a list, or 204 when the page is empty (as amoCRM does for searches with no hits)."""
        page, limit = paging(req.args)
        chosen, has_next = page_of(items, page, limit)
        if not chosen:
            return no_content()
        body = {
            "_page": page,
            "_links": page_links(f"{self.url}{req.request.path}", req.args, page, limit, has_next),
            "_embedded": {key: [render(item) if render else item for item in chosen]},
        }
        return json_response(body)

    def _batch_body(self, req: ApiRequest, key: str, items: list[dict[str, Any]]) -> Response:
        return json_response(
            {"_links": self_link(f"{self.url}{req.request.path}"), "_embedded": {key: items}},
        )

    def _api_entities(self, req: ApiRequest, kind: str) -> Response:
        if req.request.method == "GET":
            with_ = with_options(req.args)
            records = self.store.list_entities(kind, req.args)
            return self._page(req, kind, records, lambda record: self.store.render(kind, record, with_))
        if req.request.method == "POST":
            return self._batch_body(req, kind, self.store.add_entities(kind, req.body, req.user_id))
        return self._batch_body(req, kind, self.store.update_entities(kind, req.body, req.user_id))

    def _api_entity(self, req: ApiRequest, kind: str, entity_id: int) -> Response:
        if req.request.method == "PATCH":
            return json_response(self.store.update_entity(kind, entity_id, req.body, req.user_id))
        record = self.store.get_record(kind, entity_id)
        if record is None:
            return no_content()
        return json_response(self.store.render(kind, record, with_options(req.args)))

    def _api_custom_fields(self, req: ApiRequest, kind: str) -> Response:
        fields = [definition.as_api(kind, self.url) for definition in self.store.fields.get(kind, ())]
        return self._page(req, "custom_fields", fields)

    # -- links -----------------------------------------------------------------------------------

    def _links_body(self, req: ApiRequest, links: list[dict[str, Any]]) -> Response:
        body = {
            "_total_items": len(links),
            "_links": self_link(f"{self.url}{req.request.path}"),
            "_embedded": {"links": links},
        }
        return json_response(body)

    def _api_links_batch(self, req: ApiRequest, kind: str) -> Response:
        return self._links_body(req, self.store.add_links(kind, req.body))

    def _api_links_add(self, req: ApiRequest, kind: str, entity_id: int) -> Response:
        return self._links_body(req, self.store.add_links(kind, req.body, entity_id))

    def _api_links_list(self, req: ApiRequest, kind: str, entity_id: int) -> Response:
        if self.store.get_record(kind, entity_id) is None:
            return no_content()
        links = self.store.links_of(kind, entity_id)
        return self._links_body(req, links) if links else no_content()

    # -- notes -----------------------------------------------------------------------------------

    def _api_notes(self, req: ApiRequest, kind: str) -> Response:
        if req.request.method == "POST":
            return self._batch_body(req, "notes", self.store.add_notes(kind, req.body, req.user_id))
        return self._page(req, "notes", self.store.list_notes(kind, req.args), self.store.render_note)

    def _api_entity_notes(self, req: ApiRequest, kind: str, entity_id: int) -> Response:
        if req.request.method == "POST":
            notes = self.store.add_notes(kind, req.body, req.user_id, entity_id)
            return self._batch_body(req, "notes", notes)
        notes = self.store.list_notes(kind, req.args, entity_id)
        return self._page(req, "notes", notes, self.store.render_note)

    def _api_note(self, req: ApiRequest, kind: str, note_id: int, entity_id: int | None = None) -> Response:
        note = self.store.notes.get(note_id)
        if note is None or note["entity_type"] != kind or entity_id not in (None, note["entity_id"]):
            return no_content()
        return json_response(self.store.render_note(note))

    def _api_entity_note(self, req: ApiRequest, kind: str, entity_id: int, note_id: int) -> Response:
        return self._api_note(req, kind, note_id, entity_id)

    # -- tasks -----------------------------------------------------------------------------------

    def _api_tasks(self, req: ApiRequest) -> Response:
        if req.request.method == "GET":
            return self._page(req, "tasks", self.store.list_tasks(req.args), self.store.render_task)
        updating = req.request.method == "PATCH"
        return self._batch_body(req, "tasks", self.store.save_tasks(req.body, req.user_id, updating=updating))

    def _api_task(self, req: ApiRequest, task_id: int) -> Response:
        if req.request.method == "PATCH":
            if not isinstance(req.body, dict):
                raise ApiProblem(400, "Request body must be a JSON object", title="Bad Request")
            if task_id not in self.store.tasks:
                raise ApiProblem(404, "Task not found")
            saved = self.store.save_tasks([req.body], req.user_id, updating=True, task_id=task_id)[0]
            return json_response({key: value for key, value in saved.items() if key != "request_id"})
        task = self.store.tasks.get(task_id)
        return json_response(self.store.render_task(task)) if task else no_content()

    # -- calls -----------------------------------------------------------------------------------

    def _api_calls(self, req: ApiRequest) -> Response:
        """Stored calls in `_embedded.calls`, misses in `errors`; 400 when not a single call was stored."""
        stored, missed = self.store.add_calls(req.body, req.user_id)
        body = {
            "_total_items": len(stored),
            "_links": self_link(f"{self.url}/api/v4/calls"),
            "_embedded": {"calls": stored},
            "errors": missed,
        }
        return json_response(body, 200 if stored else 400, mimetype=HAL_JSON if stored else PROBLEM_JSON)

    # -- unsorted and complex --------------------------------------------------------------------

    def _api_unsorted_sip(self, req: ApiRequest) -> Response:
        created = self.incoming.add_unsorted_sip(req.body, req.user_id)
        body = {
            "_total_items": len(created),
            "_links": self_link(f"{self.url}/api/v4/leads/unsorted/sip"),
            "_embedded": {"unsorted": created},
        }
        return json_response(body)

    def _api_unsorted_list(self, req: ApiRequest) -> Response:
        items = self.incoming.list_unsorted(req.args)
        return self._page(req, "unsorted", items, self.incoming.render_unsorted)

    def _api_unsorted_one(self, req: ApiRequest, uid: str) -> Response:
        item = self.incoming.items.get(uid)
        return json_response(self.incoming.render_unsorted(item)) if item else no_content()

    def _api_unsorted_accept(self, req: ApiRequest, uid: str) -> Response:
        return json_response(self.incoming.sort_unsorted(uid, req.body, req.user_id, accept=True))

    def _api_unsorted_decline(self, req: ApiRequest, uid: str) -> Response:
        return json_response(self.incoming.sort_unsorted(uid, req.body, req.user_id, accept=False))

    def _api_unsorted_summary(self, req: ApiRequest) -> Response:
        return json_response(self.incoming.unsorted_summary())

    def _api_leads_complex(self, req: ApiRequest) -> Response:
        return json_response(self.incoming.add_complex(req.body, req.user_id), mimetype="application/json")

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, what: str) -> Response:
        try:
            body = _json_body(request) if request.method in ("POST", "DELETE") else None
            body = body if body is not None else {}
            if what == "state" and request.method == "GET":
                return json_response(self.state(), mimetype="application/json")
            if what == "reset" and request.method == "POST":
                self.reset(forget_tokens=bool(body.get("forget_tokens")))
                return json_response({"ok": True}, mimetype="application/json")
            if what == "faults":
                return self._control_faults(request.method, body)
            if what == "seed" and request.method == "POST":
                return json_response(self.seed(**_only_dict(body)), mimetype="application/json")
            if what == "tokens" and request.method == "POST":
                return self._control_tokens(_only_dict(body))
            if what == "authorization_code" and request.method == "POST":
                code = self.issue_authorization_code(body.get("user_id"))
                return json_response({"code": code}, mimetype="application/json")
            if what == "config" and request.method == "POST":
                return self._control_config(_only_dict(body))
            if what == "clock" and request.method == "POST":
                return self._control_clock(_only_dict(body))
            if what == "delete-notes" and request.method == "POST":
                # A user deleting notes in amoCRM's interface (the API has no note deletion).
                with self._lock:
                    gone = [self.store.notes.pop(int(i), None) for i in body.get("ids", [])]
                return json_response({"deleted": sum(1 for g in gone if g)}, mimetype="application/json")
        except ApiProblem as exc:
            return exc.response()
        except (ValidationError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400, mimetype="application/json")
        return json_response(
            {"error": f"no control endpoint {request.method} /_sandbox/{what}"},
            404,
            mimetype="application/json",
        )

    def _control_faults(self, method: str, body: Any) -> Response:
        if method not in ("GET", "POST", "DELETE"):
            raise ApiProblem(405, f"{method} is not allowed here")
        apply_fault_request(method, body, self.add_fault, self.clear_faults)
        return json_response({"faults": self._faults.dump()}, mimetype="application/json")

    def _control_tokens(self, body: dict[str, Any]) -> Response:
        user_id = body.get("user_id")
        if body.get("long_lived"):
            token = self.issue_long_lived_token(int(body.get("ttl_seconds", 365 * 86_400)), user_id)
            return json_response({"access_token": token, "token_type": "Bearer"}, mimetype="application/json")
        return json_response(self.issue_tokens(user_id).as_dict(), mimetype="application/json")

    def _control_config(self, body: dict[str, Any]) -> Response:
        if "rate_limit" in body:
            limit = body["rate_limit"]
            self.rate_limit = None if limit is None else int(limit)
        if "retry_after" in body:
            self.retry_after = None if body["retry_after"] is None else int(body["retry_after"])
        if "access_token_ttl" in body:
            self.auth.access_token_ttl = int(body["access_token_ttl"])
        return json_response(self.state()["config"], mimetype="application/json")

    def _control_clock(self, body: dict[str, Any]) -> Response:
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise ApiProblem(400, "this sandbox's clock cannot be moved")
        advance(float(body.get("advance", 0)))
        return json_response({"now": self._now()}, mimetype="application/json")


def _only_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _json_body(request: Request) -> Any:
    return json_body(request, lambda: ApiProblem(400, "Request body is not valid JSON", title="Bad Request"))


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox on its own: `python -m sandbox.crm.amocrm --port 3002`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.crm.amocrm", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--subdomain", default="demo")
    parser.add_argument(
        "--rate-limit", type=int, default=DOCUMENTED_PER_SECOND, help="requests per second; 0 disables"
    )
    parser.add_argument("--seed-known-client", action="store_true", help="preload the known client")
    args = parser.parse_args(argv)
    sandbox = AmoCrmSandbox(
        args.host, args.port, subdomain=args.subdomain, rate_limit=args.rate_limit or None
    ).start()
    if args.seed_known_client:
        sandbox.seed(preset="known_client")
    tokens = sandbox.issue_tokens()
    print(f"amoCRM sandbox at {sandbox.url} (control: {sandbox.url}/_sandbox/state)", flush=True)
    print(json.dumps(tokens.as_dict()), flush=True)
    sandbox.run_until_interrupted()
    return 0
