"""Megaplan API v3 over HTTP: password-grant tokens, the `{meta, data}` envelope, JSON-in-query GETs and
cursor pagination, with every failure mapped to the error names the post-call workflow understands.

| Megaplan answers | raised |
|---|---|
| 200 with `meta.status` 200 | (the `data` of the envelope) |
| 401 → refresh (or a new password grant) → 401 again; the grant refused | `BadSettings` |
| 429 | `CrmRateLimited` (`retry_after` from `Retry-After`) |
| 5xx, timeouts, connection errors, a body that is not the envelope | `CrmUnavailable` |
| 403 (access denied), 404, 422 (request error) with `meta.errors` | `CrmRejected`, in Megaplan's words |

The status is read from the HTTP line and, because Megaplan also reports it there, from `meta.status`
of a 200 answer: whichever is not 200 wins.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from mango_bridge.crm import transport
from mango_bridge.crm.errors import BadSettings, CrmError, CrmRejected, CrmUnavailable

TOKEN_PATH = "/api/v3/auth/access_token"
PAGE_LIMIT = 100
REFUSED = "Megaplan refused the login and password of the integration's user — check them in the settings"


def normalise_base_url(address: str) -> str:
    """` https://Company.megaplan.ru/crm ` → `https://company.megaplan.ru`; a bare name is a cloud
    account (`company` → `https://company.megaplan.ru`), as the connection form accepts (F41)."""
    return transport.account_url(
        address, product="Megaplan", cloud_domain="megaplan.ru", example="https://<account>.megaplan.ru"
    )


def error_messages(body: Any) -> list[str]:
    """`meta.errors[]` as text: each item's `message`, with the fields it names."""
    meta = body.get("meta") if isinstance(body, dict) else None
    errors = meta.get("errors") if isinstance(meta, dict) else None
    out: list[str] = []
    for error in errors or []:
        if isinstance(error, dict):
            message = str(error.get("message") or "error")
            fields = error.get("fields") or error.get("field")
            if fields:
                names = ", ".join(fields) if isinstance(fields, list) else str(fields)
                message = f"{names}: {message}"
            out.append(message)
        elif error:
            out.append(str(error))
    return out


def error_for(status: int, body: Any, where: str, retry_after: float | None = None) -> CrmError:
    words = "; ".join(error_messages(body))
    said = f": {words}" if words else ""
    if status == 401:
        return BadSettings(f"{REFUSED} ({where}: HTTP 401{said})", status=status)
    if status == 403:
        return CrmRejected(
            f"Megaplan {where}: access denied — the integration's user lacks rights{said}", status=status
        )
    return transport.status_error("Megaplan", status, where, said, retry_after)


@dataclass(frozen=True)
class Credentials:
    """What the tenant's secret holds: the login and password of the Megaplan user the bridge acts as."""

    login: str
    password: str


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    expires_at: float | None

    def expired(self, now: float, skew: float = 60.0) -> bool:
        return self.expires_at is not None and now >= self.expires_at - skew


def json_query(params: dict[str, Any] | None) -> str:
    """Megaplan reads GET parameters as one JSON document after `?`, URL-encoded."""
    if not params:
        return ""
    return "?" + quote(json.dumps(params, ensure_ascii=False, separators=(",", ":")), safe="")


class MegaplanClient:
    """One Megaplan account. Thread-safe: the token is shared by every thread of a warm container."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | Callable[[], Credentials],
        *,
        http: httpx.Client | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._credentials = credentials
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()
        self._http = http or transport.http_client(timeout, connect_timeout)

    # -- tokens ----------------------------------------------------------------------------------

    def _login(self) -> Credentials:
        found = self._credentials() if callable(self._credentials) else self._credentials
        if not found.login or not found.password:
            raise BadSettings("the Megaplan login or password is empty in the credentials secret")
        return found

    def _grant(self, form: dict[str, str], what: str) -> Token:
        with transport.failures("Megaplan", what, self.base_url):
            response = self._http.post(
                self.base_url + TOKEN_PATH,
                files={name: (None, value) for name, value in form.items()},
                headers={"User-Agent": transport.USER_AGENT, "Accept": "application/json"},
            )
        status = response.status_code
        body, _ = transport.read_json(response)
        if status == 429 or status >= 500:
            raise transport.status_error(
                "Megaplan", status, what, retry_after=transport.header_number(response)
            )
        if status == 404:
            raise BadSettings(
                f"no Megaplan API v3 at {self.base_url} ({what}: HTTP 404) — check the address", status=404
            )
        if status >= 400:
            hint = ""
            if isinstance(body, dict):
                hint = str(body.get("error_description") or body.get("message") or body.get("error") or "")
                hint = hint or "; ".join(error_messages(body))
            raise _Refused(f"{REFUSED} ({what}: HTTP {status}{f', {hint}' if hint else ''})", status=status)
        data = body.get("data") if isinstance(body, dict) and "access_token" not in body else body
        if not isinstance(data, dict) or not data.get("access_token"):
            raise CrmUnavailable(f"Megaplan {what}: HTTP {status} without an access token", status=status)
        lifetime = data.get("expires_in")
        return Token(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
            expires_at=self._clock() + float(lifetime)
            if isinstance(lifetime, int | float) and lifetime > 0
            else None,
        )

    def _password_grant(self) -> Token:
        login = self._login()
        try:
            return self._grant(
                {"username": login.login, "password": login.password, "grant_type": "password"}, "login"
            )
        except _Refused as refused:
            raise BadSettings(str(refused), status=refused.status) from None

    def _current(self) -> Token:
        with self._lock:
            if self._token is None or (self._token.expired(self._clock()) and not self._token.refresh_token):
                self._token = self._password_grant()
            elif self._token.expired(self._clock()):
                self._token = self._renew(self._token)
            return self._token

    def _renew(self, used: Token) -> Token:
        """A refresh when there is a refresh token; a new password grant when the refresh is refused."""
        if used.refresh_token:
            try:
                return self._grant(
                    {"grant_type": "refresh_token", "refresh_token": used.refresh_token}, "token refresh"
                )
            except _Refused:
                pass
        return self._password_grant()

    def _after_401(self, used: Token) -> Token:
        with self._lock:
            if self._token is not None and self._token.access_token != used.access_token:
                return self._token
            self._token = self._renew(used)
            return self._token

    # -- requests --------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        """The envelope's `data`; `params` go as the JSON query, `json_body` as the JSON body."""
        where = f"{method} {path}"
        token = self._current()
        response = self._send(method, path, token, params, json_body)
        if response.status_code == 401:
            token = self._after_401(token)
            response = self._send(method, path, token, params, json_body)
            if response.status_code == 401:
                raise BadSettings(f"{REFUSED} ({where}: HTTP 401 after logging in again)", status=401)
        return self._outcome(response, where)

    def _send(self, method: str, path: str, token: Token, params: Any, body: Any) -> httpx.Response:
        headers = transport.api_headers(f"Bearer {token.access_token}")
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        with transport.failures("Megaplan", f"{method} {path}", self.base_url):
            return self._http.request(
                method, self.base_url + path + json_query(params), content=content, headers=headers
            )

    @staticmethod
    def _outcome(response: httpx.Response, where: str) -> Any:
        status = response.status_code
        body, _ = transport.read_json(response)
        meta = body.get("meta") if isinstance(body, dict) else None
        if 200 <= status < 300:
            if not isinstance(meta, dict):
                raise CrmUnavailable(f"Megaplan {where}: HTTP {status} without the {{meta, data}} envelope")
            reported = meta.get("status", 200)
            if isinstance(reported, int) and reported != 200:
                raise error_for(reported, body, where, transport.header_number(response))
            if error_messages(body):
                raise error_for(422, body, where)
            return body.get("data")
        if 300 <= status < 400:
            raise CrmRejected(
                f"Megaplan {where}: redirected (HTTP {status}) — check the address", status=status
            )
        raise error_for(status, body, where, transport.header_number(response))

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json_body=body)

    def pages(
        self, path: str, params: dict[str, Any] | None = None, *, limit: int = PAGE_LIMIT, max_pages: int = 10
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection: `limit` at a time, the next page after the last item seen."""
        query = dict(params or {})
        query["limit"] = limit
        for _ in range(max_pages):
            items = self.get(path, query)
            if not isinstance(items, list):
                return
            page = [item for item in items if isinstance(item, dict)]
            yield from page
            if len(items) < limit or not page or "id" not in page[-1]:
                return
            last = page[-1]
            query["pageAfter"] = {"contentType": last.get("contentType"), "id": last["id"]}

    def close(self) -> None:
        self._http.close()


class _Refused(CrmError):
    """The token endpoint refused a grant (4xx): a refresh falls back to the password grant."""
