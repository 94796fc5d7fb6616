"""The HTTP plumbing every CRM client shares, so that all of them read an account address, build their
HTTP client and turn transport failures and HTTP statuses into the workflow's error names alike.

What differs per CRM (its authentication, its error body, what a 401 or 403 means there) stays in that
CRM's client; this module holds only what would otherwise be written once per CRM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from mango_bridge.crm.errors import BadSettings, CrmError, CrmRateLimited, CrmRejected, CrmUnavailable

USER_AGENT = "mango-crm-bridge/0.1"


def http_client(timeout: float, connect_timeout: float) -> httpx.Client:
    """Proxy variables of the environment are ignored: the bridge speaks to the CRM directly."""
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), trust_env=False)


def api_headers(authorization: str) -> dict[str, str]:
    return {"Authorization": authorization, "Accept": "application/json", "User-Agent": USER_AGENT}


def account_url(address: str, *, product: str, cloud_domain: str, example: str) -> str:
    """`Demo`, `demo.<cloud>`, ` https://Demo.<cloud>/path ` → `https://demo.<cloud>` (F41: the address
    is trimmed and lower-cased; a bare name is an account in the CRM's cloud)."""
    text = address.strip().lower()
    if not text:
        raise BadSettings(f"the {product} address is empty")
    if "://" not in text:
        text = f"https://{text}" if "." in text or ":" in text else f"https://{text}.{cloud_domain}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        article = "an" if product[:1].lower() in "aeiou" else "a"
        raise BadSettings(f"{address.strip()!r} is not {article} {product} address ({example})")
    return f"{parts.scheme}://{parts.netloc}"


def header_number(response: httpx.Response, name: str = "Retry-After") -> float | None:
    """A non-negative number the CRM sent in a header (by default how many seconds to wait); None when
    absent or garbled."""
    value = response.headers.get(name, "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@contextmanager
def failures(product: str, where: str, base_url: str) -> Iterator[None]:
    """No httpx exception escapes a client: timeouts and broken connections are outages (retried), an
    address httpx cannot use is the tenant's settings."""
    try:
        yield
    except httpx.TimeoutException:
        raise CrmUnavailable(f"{product} {where}: timed out") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise BadSettings(f"{base_url!r} is not a usable {product} address") from None
    except httpx.HTTPError as problem:
        raise CrmUnavailable(f"{product} {where}: {type(problem).__name__}: {problem}") from None


def read_json(response: httpx.Response) -> tuple[Any, bool]:
    """(body, parsed): None for a 204 or an empty body; parsed is False for a body that is not JSON, which
    on a success means the CRM did not answer what was asked."""
    if response.status_code == 204 or not response.content:
        return None, True
    try:
        return response.json(), True
    except ValueError:
        return None, False


def status_error(
    product: str, status: int, where: str, said: str = "", retry_after: float | None = None
) -> CrmError:
    """The statuses every CRM means alike: 429 waits and retries, 5xx is an outage, any other refusal
    parks the call. `said` is the CRM's own words, `": …"` or empty."""
    if status == 429:
        return CrmRateLimited(f"{product} {where}: too many requests", status=status, retry_after=retry_after)
    if status >= 500:
        return CrmUnavailable(f"{product} {where}: HTTP {status}{said}", status=status)
    return CrmRejected(f"{product} refused {where}: HTTP {status}{said}", status=status)
