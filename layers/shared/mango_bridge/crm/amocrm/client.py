"""amoCRM API v4 over HTTP: bearer auth with one refresh on 401, 7 requests/s, and every failure mapped
to the error names the post-call workflow retries or parks on (no httpx exception ever escapes).

| amoCRM answers | raised |
|---|---|
| 200/201/202 | (the JSON body) |
| 204, empty body | (None: "nothing matched") |
| 401 → refresh → 401 again; refresh refused; long-lived token refused | `BadSettings` |
| 402 (account not paid) | `BadSettings` |
| 429 | with a `Retry-After` of at most 2 s: waited out and sent once more; else `CrmRateLimited` (`retry_after` from `Retry-After` when sent) |
| 5xx, timeouts, connection errors, a 2xx that is not JSON | `CrmUnavailable` |
| 400 / other 4xx (problem+json, `validation-errors`) | `CrmRejected`, with amoCRM's own words |
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import httpx

from mango_bridge.crm import transport
from mango_bridge.crm.amocrm.limiter import RateLimiter, limiter_for
from mango_bridge.crm.amocrm.tokens import REVOKED, Tokens, TokenStore, request_tokens
from mango_bridge.crm.errors import BadSettings, CrmError, CrmRejected, CrmUnavailable

MAX_PAGE = 250
MAX_LOCAL_WAIT = 2.0
"""A `Retry-After` up to this is slept through in the client; a longer one goes back to the workflow."""
LONG_LIVED_REFUSED = "the amoCRM long-lived token has expired or was revoked — issue a new one"


def normalise_base_url(address: str) -> str:
    """`Demo`, `demo.amocrm.ru`, ` https://Demo.amocrm.ru/leads ` → `https://demo.amocrm.ru` (F41: the
    address is trimmed and lower-cased; a bare name is an amoCRM subdomain)."""
    return transport.account_url(
        address, product="amoCRM", cloud_domain="amocrm.ru", example="https://<subdomain>.amocrm.ru"
    )


def problem_text(body: Any) -> str:
    """amoCRM's error body in one line: its `detail`/`title` and every validation error."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    head = body.get("detail") or body.get("title") or body.get("hint")
    if head:
        parts.append(str(head))
    for item in body.get("validation-errors") or []:
        if not isinstance(item, dict):
            continue
        for error in item.get("errors") or []:
            if isinstance(error, dict):
                where = error.get("path") or "?"
                parts.append(
                    f"[{item.get('request_id', '?')}] {where}: {error.get('detail', '')} ({error.get('code', '')})"
                )
    for error in item_errors(body):
        parts.append(f"[{error.get('request_id', '?')}] {error_words(error)}")
    return "; ".join(part for part in parts if part)


def item_errors(body: Any) -> list[dict[str, Any]]:
    """Per-item failures of a batch (`errors` or `_embedded.errors`), as amoCRM reports unmatched calls."""
    if not isinstance(body, dict):
        return []
    found = body.get("errors")
    embedded = body.get("_embedded")
    if not found and isinstance(embedded, dict):
        found = embedded.get("errors")
    return [error for error in found or [] if isinstance(error, dict)]


def error_words(error: dict[str, Any]) -> str:
    words = [str(error[key]) for key in ("title", "msg", "detail", "message") if error.get(key)]
    return " — ".join(words) or "error"


def error_for(status: int, body: Any, where: str, retry_after: float | None = None) -> CrmError:
    """The workflow error for an amoCRM answer that is not a success (401 is handled before this)."""
    text = problem_text(body)
    said = f": {text}" if text else ""
    if status == 401:
        return BadSettings(f"{REVOKED} ({where}: HTTP 401{said})", status=status)
    if status == 402:
        return BadSettings(f"the amoCRM account is not paid ({where}: HTTP 402)", status=status)
    if status == 403:
        return CrmRejected(
            f"amoCRM {where}: forbidden — the integration's user lacks rights, or amoCRM blocked the "
            f"integration{said}",
            status=status,
        )
    return transport.status_error("amoCRM", status, where, said, retry_after)


class AmoCrmClient:
    """One amoCRM account. Thread-safe: the token pair and the limiter are shared by every thread."""

    def __init__(
        self,
        store: TokenStore,
        base_url: str | None = None,
        *,
        http: httpx.Client | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tokens: Tokens | None = None
        self._token_lock = threading.Lock()
        self._clock = clock
        address = base_url or self._current_tokens().base_url
        if not address:
            raise BadSettings("no amoCRM address: set the account's base URL (https://<subdomain>.amocrm.ru)")
        self.base_url = normalise_base_url(address)
        self.limiter = limiter or limiter_for(self.base_url)
        self._http = http or transport.http_client(timeout, connect_timeout)

    # -- tokens ------------------------------------------------------------------------------------

    def _current_tokens(self) -> Tokens:
        with self._token_lock:
            if self._tokens is None:
                self._tokens = self._store.load()
            return self._tokens

    def _refresh(self, used: Tokens) -> Tokens:
        """A fresh pair in place of `used`; if another thread or process rotated it meanwhile, theirs."""
        with self._token_lock:
            if self._tokens is not None and self._tokens.access_token != used.access_token:
                return self._tokens
            stored = self._store.load()
            if stored.access_token != used.access_token:
                self._tokens = stored
                return stored
            if used.long_lived:
                raise BadSettings(LONG_LIVED_REFUSED, status=401)
            if not (used.client_id and used.client_secret):
                raise BadSettings(f"{REVOKED} (no client_id / client_secret stored to refresh the token)")
            form = {
                "client_id": used.client_id,
                "client_secret": used.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": used.refresh_token,
                "redirect_uri": used.redirect_uri,
            }
            self.limiter.acquire()
            try:
                answer = request_tokens(self._http, self.base_url, form)
            except BadSettings:
                stored = self._store.load()
                if stored.access_token != used.access_token:
                    self._tokens = stored
                    return stored
                raise
            fresh = used.rotated(answer, self._clock())
            self._store.save(fresh)
            self._tokens = fresh
            return fresh

    # -- requests ----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        expect: Collection[int] = (),
    ) -> Any:
        """The parsed JSON answer (None for 204 / an empty body). Statuses in `expect` are answered with
        their body instead of raising, for endpoints that report per-item outcomes on an error status."""
        where = f"{method} {path}"
        tokens = self._current_tokens()
        if tokens.expired(self._clock()) and not tokens.long_lived:
            tokens = self._refresh(tokens)
        response = self._send(method, path, tokens, params, json)
        if response.status_code == 401:
            tokens = self._refresh(tokens)
            response = self._send(method, path, tokens, params, json)
            if response.status_code == 401:
                refused = LONG_LIVED_REFUSED if tokens.long_lived else REVOKED
                raise BadSettings(f"{refused} ({where}: HTTP 401 after a token refresh)", status=401)
        return self._outcome(response, where, expect)

    def _send(self, method: str, path: str, tokens: Tokens, params: Any, json: Any) -> httpx.Response:
        """One request; a 429 that says how long to wait (`Retry-After`) holds every request to this
        account that long, and a short wait is waited out here and the request sent once more.

        amoCRM's docs name no header on its 429 and its PHP library reads none; an account (or a proxy
        in front of it) that sends one is believed. Without it the 429 goes back to the workflow."""
        response = self._send_once(method, path, tokens, params, json)
        if response.status_code == 429:
            wait = transport.header_number(response)
            if wait is not None:
                self.limiter.hold(wait)
                if wait <= MAX_LOCAL_WAIT:
                    response = self._send_once(method, path, tokens, params, json)
        return response

    def _send_once(self, method: str, path: str, tokens: Tokens, params: Any, json: Any) -> httpx.Response:
        self.limiter.acquire()
        with transport.failures("amoCRM", f"{method} {path}", self.base_url):
            return self._http.request(
                method,
                self.base_url + path,
                params=params,
                json=json,
                headers=transport.api_headers(f"Bearer {tokens.access_token}"),
                follow_redirects=False,
            )

    @staticmethod
    def _outcome(response: httpx.Response, where: str, expect: Collection[int]) -> Any:
        status = response.status_code
        body, parsed = transport.read_json(response)
        if 200 <= status < 300:
            if not parsed:
                raise CrmUnavailable(
                    f"amoCRM {where}: HTTP {status} with a body that is not JSON", status=status
                )
            return body
        if status in expect and isinstance(body, dict):
            return body
        if 300 <= status < 400:
            raise CrmRejected(
                f"amoCRM {where}: redirected (HTTP {status}) — check the account address", status=status
            )
        raise error_for(status, body, where, transport.header_number(response))

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any, *, expect: Collection[int] = ()) -> Any:
        return self.request("POST", path, json=json, expect=expect)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def pages(
        self, path: str, key: str, params: list[tuple[str, str]] | None = None, *, max_pages: int = 4
    ) -> Iterator[dict[str, Any]]:
        """Items of `_embedded[key]` over the pages amoCRM links (`_links.next`), at most `max_pages`."""
        for page in range(1, max_pages + 1):
            body = self.get(path, [*(params or []), ("page", str(page)), ("limit", str(MAX_PAGE))])
            if not isinstance(body, dict):
                return
            items = (body.get("_embedded") or {}).get(key) or []
            yield from (item for item in items if isinstance(item, dict))
            if not (body.get("_links") or {}).get("next"):
                return

    def close(self) -> None:
        self._http.close()
