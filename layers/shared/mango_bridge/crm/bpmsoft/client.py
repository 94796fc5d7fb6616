"""BPMSoft's OData 4 service over HTTP: forms login with cookies and the `BPMCSRF` header, one re-login
on 401/403, `$metadata` discovery of the service root, `$batch`, and every failure mapped to the error
names the post-call workflow retries or parks on (no httpx exception ever escapes).

| BPMSoft answers | raised |
|---|---|
| 200/201 JSON, 204 | (the JSON body / None) |
| login HTTP 200 with `Code` ≠ 0, no login service, 401/403 again after a fresh login | `BadSettings` |
| 429 | `CrmRateLimited` (`retry_after` from `Retry-After`) |
| 5xx, timeouts, connection errors, a 2xx that is not what was asked | `CrmUnavailable` |
| 400, 404, 409 and other 4xx (`{"error": {"message"}}`) | `CrmRejected`, with BPMSoft's own words |
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from mango_bridge.crm import transport
from mango_bridge.crm.bpmsoft.auth import CredentialSource
from mango_bridge.crm.bpmsoft.metadata import Schema, parse_metadata
from mango_bridge.crm.errors import BadSettings, CrmError, CrmUnavailable

LOGIN_PATH = "/ServiceModel/AuthService.svc/Login"
ODATA_ROOTS = ("/0/odata", "/odata")
""".NET Framework deployments serve OData under `/0/odata`, .NET 8 ones under `/odata`."""
JSON_CONTENT = "application/json; charset=utf-8; IEEE754Compatible=true"
MAX_BATCH = 100
METADATA_TIMEOUT = 90.0
"""A real instance's `$metadata` lists thousands of entity types (megabytes, built on first request)."""

_SCHEMAS: dict[str, tuple[str, Schema]] = {}
"""`$metadata` once per warm container: base URL → (OData root, schema), shared by every adapter of
that instance; the connection check reads it again (`schema(refresh=True)`)."""
_SCHEMAS_LOCK = threading.Lock()


def normalise_base_url(address: str) -> tuple[str, str | None]:
    """` https://Company.BPMSoft.ru/0/ ` → (`https://company.bpmsoft.ru`, `/0/odata`): the address is
    trimmed and lower-cased as Mango requires (F41); a trailing `/0` names the .NET Framework root."""
    text = address.strip().lower().rstrip("/")
    if not text:
        raise BadSettings("the BPMSoft address is empty")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadSettings(f"{address.strip()!r} is not a BPMSoft address (https://company.bpmsoft.ru)")
    path = parts.path.rstrip("/")
    hint = None
    for suffix, root in (("/0/odata", "/0/odata"), ("/odata", "/odata"), ("/0", "/0/odata")):
        if path.endswith(suffix):
            path, hint = path[: -len(suffix)], root
            break
    return f"{parts.scheme}://{parts.netloc}{path}", hint


def odata_message(body: Any) -> str:
    """BPMSoft's own words: OData's `{"error": {"message"}}`, or the login service's `Message` and its
    `Exception` object (`{"Code": 1, "Message": "", "Exception": {"Message": "…", "Type": "…"}}`)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")
        if body.get("Message"):
            return str(body["Message"])
        exception = body.get("Exception")
        if isinstance(exception, dict) and exception.get("Message"):
            return str(exception["Message"])
    return ""


def error_for(status: int, body: Any, where: str, retry_after: float | None = None) -> CrmError:
    text = odata_message(body)
    said = f": {text}" if text else ""
    if status in (401, 403):
        return BadSettings(
            f"BPMSoft {where}: HTTP {status} right after a fresh login — the API user lacks rights to the "
            f"OData service{said}",
            status=status,
        )
    return transport.status_error("BPMSoft", status, where, said, retry_after)


class BpmSoftClient:
    """One BPMSoft instance and its API user. Thread-safe: the session is shared by every thread and
    renewed by one of them when it ends."""

    def __init__(
        self,
        address: str,
        credentials: CredentialSource,
        *,
        odata_root: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.base_url, hint = normalise_base_url(address)
        self._root = odata_root or None
        self._root_hint = hint
        self._credentials = credentials
        self._http = http or transport.http_client(timeout, connect_timeout)
        self._lock = threading.Lock()
        self._generation = 0
        self._logged_in = False
        self._csrf: str | None = None
        self._schema: Schema | None = None
        self._captions: dict[str, dict[str, str]] = {}
        self.logins = 0
        self.metadata_reads = 0

    # -- session -----------------------------------------------------------------------------------

    def login(self) -> None:
        """A fresh session: `POST AuthService.svc/Login`, cookies kept by the HTTP client, `BPMCSRF`
        from its cookie (fetched from the application page when the login did not set it)."""
        with self._lock:
            self._login_locked()

    def _login_locked(self) -> None:
        credentials = self._credentials.load()
        self._http.cookies.clear()
        where = f"POST {LOGIN_PATH}"
        response = self._send_raw(
            "POST",
            self.base_url + LOGIN_PATH,
            json={"UserName": credentials.login, "UserPassword": credentials.password},
            headers={"ForceUseSession": "true"},
        )
        status = response.status_code
        if status == 429 or status >= 500:
            raise transport.status_error(
                "BPMSoft", status, where, retry_after=transport.header_number(response)
            )
        if status != 200:
            raise BadSettings(
                f"no BPMSoft login service at {self.base_url} ({where}: HTTP {status}) — check «URL сервиса»",
                status=status,
            )
        try:
            body = response.json()
        except ValueError:
            raise BadSettings(
                f"{self.base_url} answered the login with a page that is not BPMSoft's — check «URL сервиса»"
            ) from None
        code = body.get("Code") if isinstance(body, dict) else None
        if code != 0:
            said = odata_message(body) or f"Code {code}"
            raise BadSettings(f"BPMSoft refused the login of {credentials.login!r}: {said}", status=200)
        csrf = self._http.cookies.get("BPMCSRF")
        if not csrf:
            self._send_raw("GET", self.base_url + "/", headers={})
            csrf = self._http.cookies.get("BPMCSRF")
        self._csrf = csrf
        self._logged_in = True
        self._generation += 1
        self.logins += 1

    def _ensure_session(self) -> int:
        with self._lock:
            if not self._logged_in:
                self._login_locked()
            return self._generation

    def _renew(self, seen: int) -> None:
        """Log in again unless another thread already did since `seen`."""
        with self._lock:
            if self._generation == seen:
                self._logged_in = False
                self._login_locked()

    # -- requests ----------------------------------------------------------------------------------

    def _send_raw(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        with transport.failures("BPMSoft", f"{method} {urlsplit(url).path}", self.base_url):
            return self._http.request(
                method,
                url,
                json=json,
                headers={"User-Agent": transport.USER_AGENT, **headers},
                follow_redirects=False,
                timeout=timeout if timeout else httpx.USE_CLIENT_DEFAULT,
            )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": JSON_CONTENT, "ForceUseSession": "true"}
        if self._csrf:
            headers["BPMCSRF"] = self._csrf
        return headers

    def _authenticated(
        self,
        method: str,
        url: str,
        json: Any = None,
        extra: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send with the session; an ended session (401/403, or the redirect to the login page) is
        renewed once."""
        seen = self._ensure_session()
        headers = {**self._headers(), **(extra or {})}
        response = self._send_raw(method, url, headers=headers, json=json, timeout=timeout)
        if response.status_code in (401, 403) or 300 <= response.status_code < 400:
            self._renew(seen)
            headers = {**self._headers(), **(extra or {})}
            response = self._send_raw(method, url, headers=headers, json=json, timeout=timeout)
        return response

    def request(
        self,
        method: str,
        resource: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        expect: Collection[int] = (),
    ) -> Any:
        """An OData request relative to the service root; the parsed JSON, or None for 204."""
        root = self.odata_root()
        url = self.base_url + root + "/" + resource + (f"?{_query(params)}" if params else "")
        where = f"{method} {root}/{resource}"
        response = self._authenticated(method, url, json)
        return self._outcome(response, where, expect)

    @staticmethod
    def _outcome(response: httpx.Response, where: str, expect: Collection[int] = ()) -> Any:
        status = response.status_code
        body, parsed = transport.read_json(response)
        if 200 <= status < 300:
            if not parsed:
                raise CrmUnavailable(
                    f"BPMSoft {where}: HTTP {status} with a body that is not JSON", status=status
                )
            return body
        if status in expect:
            return body
        if 300 <= status < 400:
            raise BadSettings(
                f"BPMSoft {where}: redirected (HTTP {status}) even after a fresh login — check «URL сервиса»",
                status=status,
            )
        raise error_for(status, body, where, transport.header_number(response))

    def get(self, resource: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", resource, params=params)

    def rows(self, resource: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        body = self.get(resource, params)
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise CrmUnavailable(f"BPMSoft GET {resource}: the answer has no 'value' list")
        return [row for row in values if isinstance(row, dict)]

    def post(self, resource: str, body: dict[str, Any]) -> Any:
        return self.request("POST", resource, json=body)

    def patch(self, resource: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", resource, json=body)

    def batch(
        self, requests: list[tuple[str, str, dict[str, str] | None, Any]], *, continue_on_error: bool = False
    ) -> list[tuple[int, Any]]:
        """Several requests in one `$batch` (JSON format): (method, resource, params, body) each; answers
        (status, body) per request, in order. Without `continue_on_error` BPMSoft stops at the first
        failure: the rest are answered (424, None)."""
        if not requests:
            return []
        if len(requests) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} requests fit one $batch")
        root = self.odata_root()
        items = []
        for index, (method, resource, params, body) in enumerate(requests, start=1):
            item: dict[str, Any] = {
                "id": str(index),
                "method": method,
                "url": resource + (f"?{_query(params)}" if params else ""),
                "headers": {"Content-Type": JSON_CONTENT, "Accept": "application/json"},
            }
            if body is not None:
                item["body"] = body
            items.append(item)
        extra = {"Prefer": "continue-on-error"} if continue_on_error else {}
        where = f"POST {root}/$batch"
        response = self._authenticated("POST", f"{self.base_url}{root}/$batch", {"requests": items}, extra)
        answer = self._outcome(response, where)
        responses = answer.get("responses") if isinstance(answer, dict) else None
        if not isinstance(responses, list):
            raise CrmUnavailable(f"BPMSoft {where}: the answer has no 'responses' list")
        by_id = {str(r.get("id")): r for r in responses if isinstance(r, dict)}
        results: list[tuple[int, Any]] = []
        for index in range(1, len(requests) + 1):
            found = by_id.get(str(index))
            if found is None:
                results.append((424, None))
                continue
            results.append((int(found.get("status") or 0), found.get("body")))
        return results

    # -- the service root and its schema -----------------------------------------------------------

    def odata_root(self) -> str:
        if self._root is None:
            self.schema()
        assert self._root is not None
        return self._root

    def schema(self, *, refresh: bool = False) -> Schema:
        """The instance's `$metadata`, read once per container; trying `/0/odata` then `/odata` finds
        the root."""
        if self._schema is not None and not refresh:
            return self._schema
        if not refresh:
            with _SCHEMAS_LOCK:
                cached = _SCHEMAS.get(self.base_url)
            if cached is not None and (self._root is None or self._root == cached[0]):
                self._root, self._schema = cached
                return cached[1]
        candidates = [self._root] if self._root else list(dict.fromkeys([self._root_hint, *ODATA_ROOTS]))
        last_status = None
        for root in candidates:
            if root is None:
                continue
            response = self._authenticated(
                "GET",
                f"{self.base_url}{root}/$metadata",
                extra={"Accept": "application/xml"},
                timeout=METADATA_TIMEOUT,
            )
            if response.status_code == 404:
                last_status = 404
                continue
            if response.status_code != 200:
                self._outcome(response, f"GET {root}/$metadata")
            self._root = root
            self._schema = parse_metadata(response.content)
            self._captions.clear()
            self.metadata_reads += 1
            with _SCHEMAS_LOCK:
                _SCHEMAS[self.base_url] = (root, self._schema)
            return self._schema
        raise BadSettings(
            f"{self.base_url} has no OData 4 service (tried {', '.join(r for r in candidates if r)}; "
            f"HTTP {last_status}) — check «URL сервиса»",
            status=last_status,
        )

    def captions(self, entity: str) -> dict[str, str]:
        """Column code → the caption the user sees, for one object, as BPMSoft's and Creatio's own
        clients read them: `SysSchema` (the object's schemas, one per package that extends it) →
        `SysEntitySchemaColumn`, else the view `VwSysEntitySchemaColumn`. Empty when the instance
        offers neither (or the API user may not read them). Lookups are named without `Id` there."""
        known = self._captions.get(entity)
        if known is not None:
            return known
        schema = self.schema()
        found: dict[str, str] = {}
        name = "'" + entity.replace("'", "''") + "'"
        try:
            if schema.has("SysSchema") and schema.has("SysEntitySchemaColumn"):
                schemas = self.rows(
                    "SysSchema", {"$filter": f"Name eq {name}", "$select": "UId,Name", "$top": "50"}
                )
                uids = [str(r["UId"]) for r in schemas if r.get("UId")]
                if uids:
                    rows = self.rows(
                        "SysEntitySchemaColumn",
                        {
                            "$filter": " or ".join(f"SysEntitySchemaUId eq {u}" for u in uids),
                            "$select": "Name,Caption",
                        },
                    )
                    found = _captions_of(rows)
            if not found and schema.has("VwSysEntitySchemaColumn"):
                rows = self.rows(
                    "VwSysEntitySchemaColumn",
                    {"$filter": f"EntitySchemaName eq {name}", "$select": "Name,Caption"},
                )
                found = _captions_of(rows)
        except (CrmError, KeyError):
            found = {}
        self._captions[entity] = found
        return found

    def close(self) -> None:
        self._http.close()


def _captions_of(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {str(r["Name"]): str(r["Caption"]) for r in rows if r.get("Name") and r.get("Caption")}


def forget_schemas() -> None:
    """Tests: the next adapter reads `$metadata` again."""
    with _SCHEMAS_LOCK:
        _SCHEMAS.clear()


def _query(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe="$(),/'=")
