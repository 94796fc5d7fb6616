"""Omnidesk's REST API over HTTP: Basic auth (staff e-mail + API key), the per-minute limit read from
the answers' headers, and every failure mapped to the error names the post-call workflow retries or
parks on (no httpx exception ever escapes).

| Omnidesk answers | raised |
|---|---|
| 200/201 with JSON | (the JSON body) |
| 401 (wrong e-mail or key, staff disabled) | `BadSettings` |
| 403 saying «rate limit exceeded» | `CrmRateLimited`: throttling as the Ruby gem `omnidesk_api` reads it |
| 403 (API off, no rights) | `BadSettings` |
| 429 | `CrmRateLimited` (`retry_after` from the `retry_after` header) |
| 5xx, timeouts, connection errors, a 2xx that is not JSON | `CrmUnavailable` |
| 400 / 404 / other 4xx | `CrmRejected`, with Omnidesk's own words |

Every answer says how many requests are left this minute (`api_calls_left`) and when the allowance
comes back (`retry_after`): once it is spent the client waits briefly or, for a longer wait, raises
`CrmRateLimited` without sending, so the workflow retries later instead of being refused.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from mango_bridge.crm import transport
from mango_bridge.crm.errors import BadSettings, CrmError, CrmRateLimited, CrmRejected, CrmUnavailable

MAX_LOCAL_WAIT = 2.0
"""Longer waits for the per-minute allowance go back to the workflow's retry instead of sleeping."""


def normalise_base_url(address: str) -> str:
    """`Demo`, `demo.omnidesk.ru`, ` https://Demo.omnidesk.ru/staff ` → `https://demo.omnidesk.ru` (F41:
    trimmed and lower-cased; a bare name is an omnidesk.ru subdomain)."""
    return transport.account_url(
        address, product="Omnidesk", cloud_domain="omnidesk.ru", example="https://<domain>.omnidesk.ru"
    )


def error_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    words = [str(body[key]) for key in ("error", "description", "message") if body.get(key)]
    return " — ".join(words)


RATE_LIMIT_WORDS = re.compile(r"rate[ _-]?limit[ _-]?exceeded", re.IGNORECASE)
"""Throttling on a 403, as the Ruby gem `omnidesk_api` (`Error.error_for_403`) tells it from a refusal."""


def is_throttled(status: int, raw_body: str) -> bool:
    """Omnidesk's own docs name no status for an exceeded limit: 429 and a 403 whose body says «rate
    limit exceeded» (JSON or not) are both taken as throttling, never as refused credentials."""
    return status == 429 or (status == 403 and bool(RATE_LIMIT_WORDS.search(raw_body)))


def error_for(
    status: int, body: Any, where: str, retry_after: float | None = None, raw_body: str = ""
) -> CrmError:
    said = error_text(body)
    said = f": {said}" if said else ""
    if status == 403 and is_throttled(status, raw_body or said):
        return CrmRateLimited(
            f"Omnidesk {where}: too many requests (HTTP 403{said})", status=status, retry_after=retry_after
        )
    if status == 401:
        return BadSettings(
            f"Omnidesk refused the staff e-mail or API key ({where}: HTTP 401{said})", status=status
        )
    if status == 403:
        return BadSettings(
            f"Omnidesk forbids API access for this staff member, or the API is off ({where}: HTTP 403{said})",
            status=status,
        )
    return transport.status_error("Omnidesk", status, where, said, retry_after)


class OmnideskClient:
    """One Omnidesk account. Thread-safe: the allowance is shared by every thread using the client."""

    def __init__(
        self,
        base_url: str,
        staff_email: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not staff_email or not api_key:
            raise BadSettings("the Omnidesk credentials need the staff e-mail and the API key")
        self.base_url = normalise_base_url(base_url)
        self.staff_email = staff_email
        token = base64.b64encode(f"{staff_email}:{api_key}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._http = http or transport.http_client(timeout, connect_timeout)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._spent_until: float | None = None
        self.calls_left: int | None = None
        self.per_minute: int | None = None

    # -- the per-minute allowance ------------------------------------------------------------------

    def _wait_for_allowance(self, where: str) -> None:
        with self._lock:
            until = self._spent_until
        if until is None:
            return
        wait = until - self._clock()
        if wait <= 0:
            return
        if wait > MAX_LOCAL_WAIT:
            raise CrmRateLimited(f"Omnidesk {where}: this minute's API allowance is spent", retry_after=wait)
        self._sleep(wait)

    def _note_allowance(self, response: httpx.Response) -> None:
        left = transport.header_number(response, "api_calls_left")
        retry_after = transport.header_number(response, "retry_after")
        per_minute = transport.header_number(response, "rate_limit_per_minute")
        with self._lock:
            if per_minute is not None:
                self.per_minute = int(per_minute)
            if left is None:
                return
            self.calls_left = int(left)
            if left <= 0:
                self._spent_until = self._clock() + (retry_after if retry_after else 1.0)
            else:
                self._spent_until = None

    # -- requests ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        where = f"{method} {path}"
        self._wait_for_allowance(where)
        with transport.failures("Omnidesk", where, self.base_url):
            response = self._http.request(
                method,
                self.base_url + path,
                params=params,
                json=json,
                headers=transport.api_headers(self._authorization),
                follow_redirects=False,
            )
        self._note_allowance(response)
        if is_throttled(response.status_code, response.text[:2000]):
            wait = transport.header_number(response, "retry_after")
            with self._lock:
                self._spent_until = self._clock() + (wait if wait else 1.0)
        return self._outcome(response, where)

    @staticmethod
    def _outcome(response: httpx.Response, where: str) -> Any:
        status = response.status_code
        body, parsed = transport.read_json(response)
        if 200 <= status < 300:
            if not parsed or body is None:
                raise CrmUnavailable(f"Omnidesk {where}: HTTP {status} without a JSON body", status=status)
            return body
        if 300 <= status < 400:
            raise CrmRejected(
                f"Omnidesk {where}: redirected (HTTP {status}) — check the address", status=status
            )
        raise error_for(
            status, body, where, transport.header_number(response, "retry_after"), response.text[:2000]
        )

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request("PUT", path, json=json)

    def close(self) -> None:
        self._http.close()
