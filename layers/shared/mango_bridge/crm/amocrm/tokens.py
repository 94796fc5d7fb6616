"""amoCRM credentials: the OAuth pair (or a long-lived token), where it is kept, and how it is obtained.

A refresh token works once: every refresh returns a new pair that must be saved before anything else
happens, or the integration is locked out until someone reconnects it. Stores therefore save the
whole pair at once, and the client re-reads the store when a refresh is refused, in case another
process has just rotated the pair.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmUnavailable
from mango_bridge.crm.secret_store import SecretHolder, secret_error, secret_text

TOKEN_PATH = "/oauth2/access_token"
REVOKED = "the integration's access was revoked — reconnect amoCRM"
SECRET_HOLDS = "the amoCRM tokens"


class Tokens(BaseModel):
    """What the bridge keeps per amoCRM account; `refresh_token` None means a long-lived token."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    base_url: str | None = None

    @property
    def long_lived(self) -> bool:
        return self.refresh_token is None

    def expired(self, now: float, skew: float = 60.0) -> bool:
        return self.expires_at is not None and now >= self.expires_at - skew

    @classmethod
    def long_lived_token(cls, access_token: str, base_url: str | None = None) -> Tokens:
        """A long-lived token (private integrations): no refresh; its JWT `exp` says when it stops."""
        return cls(access_token=access_token, expires_at=jwt_expiry(access_token), base_url=base_url)

    def rotated(self, answer: dict[str, Any], now: float) -> Tokens:
        """This account's credentials with the pair `/oauth2/access_token` just answered."""
        try:
            access, refresh = str(answer["access_token"]), str(answer["refresh_token"])
            lifetime = float(answer.get("expires_in") or 0)
        except (KeyError, TypeError, ValueError):
            raise CrmUnavailable("amoCRM answered the token request without a token pair") from None
        return self.model_copy(
            update={
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": now + lifetime if lifetime > 0 else None,
            }
        )


def jwt_expiry(token: str) -> float | None:
    """`exp` of a JWT-shaped token, or None when the token is not one (nothing is verified)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class TokenStore(Protocol):
    def load(self) -> Tokens: ...

    def save(self, tokens: Tokens) -> None: ...


class MemoryTokenStore:
    """Tokens in memory (tests, one-off scripts); `saved` lists every pair written, oldest first."""

    def __init__(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self.saved: list[Tokens] = []

    def load(self) -> Tokens:
        with self._lock:
            return self._tokens

    def save(self, tokens: Tokens) -> None:
        with self._lock:
            self._tokens = tokens
            self.saved.append(tokens)


class SecretsManagerTokenStore(SecretHolder):
    """The pair as one JSON secret: `{access_token, refresh_token, expires_at, client_id, client_secret,
    redirect_uri, base_url}`; saving puts a new version, so the previous pair stays readable for audit."""

    def load(self) -> Tokens:
        text = secret_text(self._secrets(), self.secret_name, SECRET_HOLDS)
        try:
            return Tokens.model_validate_json(text)
        except ValidationError:
            raise BadSettings(
                f"secret {self.secret_name!r} does not hold amoCRM tokens (access_token is required)"
            ) from None

    def save(self, tokens: Tokens) -> None:
        try:
            self._secrets().put_secret_value(
                SecretId=self.secret_name, SecretString=tokens.model_dump_json(exclude_none=False)
            )
        except Exception as problem:
            raise secret_error(problem, self.secret_name, SECRET_HOLDS, "write") from None


def request_tokens(
    http: httpx.Client,
    base_url: str,
    form: dict[str, Any],
    *,
    what: str = "token refresh",
    refused: str = REVOKED,
) -> dict[str, Any]:
    """POST `/oauth2/access_token`; the JSON answer, or the error the workflow understands."""
    try:
        response = http.post(base_url.rstrip("/") + TOKEN_PATH, json=form)
    except httpx.TimeoutException:
        raise CrmUnavailable(f"amoCRM {what}: timed out") from None
    except httpx.HTTPError as problem:
        raise CrmUnavailable(f"amoCRM {what}: {type(problem).__name__}") from None
    status = response.status_code
    body: Any = None
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if status == 429:
        raise CrmRateLimited(f"amoCRM {what}: too many requests", status=429)
    if status >= 500:
        raise CrmUnavailable(f"amoCRM {what}: HTTP {status}", status=status)
    if status >= 400:
        hint = body.get("hint") or body.get("detail") if isinstance(body, dict) else None
        raise BadSettings(
            f"{refused} (amoCRM {what}: HTTP {status}{f', {hint}' if hint else ''})", status=status
        )
    if not isinstance(body, dict):
        raise CrmUnavailable(f"amoCRM {what}: HTTP {status} without a JSON answer", status=status)
    return body


def exchange_code(
    base_url: str,
    code: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    http: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> Tokens:
    """The first pair, from the authorization code amoCRM put on the redirect (it lives 20 minutes)."""
    own = http is None
    client = http or httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0), trust_env=False)
    try:
        answer = request_tokens(
            client,
            base_url,
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
            },
            what="authorization code exchange",
            refused="amoCRM refused the authorization code — connect amoCRM again",
        )
    finally:
        if own:
            client.close()
    template = Tokens(
        access_token="-",
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        base_url=base_url.rstrip("/"),
    )
    return template.rotated(answer, clock())
