"""amoCRM's OAuth 2.0 server: authorization codes, access/refresh pairs, long-lived tokens.

Behaviour the bridge has to survive, reproduced on purpose:

* access tokens expire after `access_token_ttl` seconds of the sandbox clock;
* a refresh token works once: refreshing returns a new pair and kills the old refresh token *and*
  the access token issued with it (a second refresh with the old one is "Token has been revoked");
* authorization codes live 20 minutes and work once;
* long-lived tokens have no refresh token and simply stop working at their `exp`.

Access tokens are JWT-shaped (`exp`, `iat`, `sub`, `aud`, `account_id`, …) like amoCRM's, so a client
may read `exp` from them; the sandbox itself only trusts its own table, never the signature. Token
endpoint errors use amoCRM's OAuth problem body (`hint`, `title`, `type` …/OAuthProblemJson, `status`,
`detail`), as seen in several client projects; the hint texts are the league/oauth2-server ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from werkzeug.wrappers import Response

from sandbox.crm.amocrm.wire import PROBLEM_JSON, json_response, unauthorized

AUTHORIZATION_CODE_TTL = 20 * 60
DEFAULT_REFRESH_TOKEN_TTL = 90 * 24 * 3600
OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
OAUTH_PROBLEM_DETAIL = "В запросе отсутствует ряд параметров или параметры невалидны"


class OAuthProblem(Exception):
    """A refused token request, in amoCRM's OAuth error shape."""

    def __init__(self, hint: str, status: int = 400) -> None:
        super().__init__(hint)
        self.hint = hint
        self.status = status

    def response(self) -> Response:
        body = {
            "hint": self.hint,
            "title": "Некорректный запрос",
            "type": OAUTH_PROBLEM_TYPE,
            "status": self.status,
            "detail": OAUTH_PROBLEM_DETAIL,
        }
        return json_response(body, self.status, mimetype=PROBLEM_JSON)


@dataclass
class AccessGrant:
    token: str
    user_id: int
    kind: Literal["oauth", "long_lived"]
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshGrant:
    token: str
    access_token: str
    user_id: int
    expires_at: float
    used: bool = False


@dataclass
class AuthorizationCode:
    code: str
    user_id: int
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class TokenPair:
    """What `/oauth2/access_token` answers; `as_dict()` is that exact body."""

    access_token: str
    refresh_token: str
    expires_in: int
    server_time: int
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenAuthority:
    """Issues and checks every credential of the sandbox account; thread-safe."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        access_token_ttl: int,
        refresh_token_ttl: int,
        account_id: int,
        subdomain: str,
        default_user_id: int,
        clock: Callable[[], float],
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.account_id = account_id
        self.subdomain = subdomain
        self.default_user_id = default_user_id
        self._clock = clock
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._codes: dict[str, AuthorizationCode] = {}

    # -- issuing ---------------------------------------------------------------------------------

    def issue_code(self, user_id: int | None = None) -> str:
        code = "def502" + secrets.token_hex(40)
        with self._lock:
            self._codes[code] = AuthorizationCode(
                code, user_id or self.default_user_id, self._clock() + AUTHORIZATION_CODE_TTL
            )
        return code

    def issue_pair(self, user_id: int | None = None) -> TokenPair:
        with self._lock:
            return self._issue_pair_locked(user_id or self.default_user_id)

    def issue_long_lived(self, ttl_seconds: int, user_id: int | None = None) -> str:
        now = self._clock()
        user = user_id or self.default_user_id
        token = self._jwt(user, now, now + ttl_seconds)
        with self._lock:
            self._access[token] = AccessGrant(token, user, "long_lived", now, now + ttl_seconds)
        return token

    def _issue_pair_locked(self, user_id: int) -> TokenPair:
        now = self._clock()
        access = self._jwt(user_id, now, now + self.access_token_ttl)
        refresh = "def502" + secrets.token_hex(96)
        self._access[access] = AccessGrant(access, user_id, "oauth", now, now + self.access_token_ttl)
        self._refresh[refresh] = RefreshGrant(refresh, access, user_id, now + self.refresh_token_ttl)
        return TokenPair(access, refresh, self.access_token_ttl, int(now))

    def _jwt(self, user_id: int, issued_at: float, expires_at: float) -> str:
        header = {"typ": "JWT", "alg": "HS256"}
        claims = {
            "aud": self.client_id,
            "jti": uuid.uuid4().hex,
            "iat": int(issued_at),
            "nbf": int(issued_at),
            "exp": int(expires_at),
            "sub": str(user_id),
            "account_id": self.account_id,
            "base_domain": "amocrm.ru",
            "api_domain": f"{self.subdomain}.amocrm.ru",
            "scopes": ["crm", "notifications"],
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    # -- the token endpoint ----------------------------------------------------------------------

    def exchange(self, form: Mapping[str, Any]) -> TokenPair:
        """`POST /oauth2/access_token` for grant_type authorization_code or refresh_token."""
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthProblem("The authorization grant type is not supported by the authorization server.")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise OAuthProblem("Client authentication failed", status=401)
        if form.get("redirect_uri") not in (None, "", self.redirect_uri):
            raise OAuthProblem("Redirect URI mismatch")
        now = self._clock()
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.get(str(form.get("code") or ""))
                if code is None:
                    raise OAuthProblem("Cannot decrypt the authorization code")
                if code.used:
                    raise OAuthProblem("Authorization code has been revoked")
                if now >= code.expires_at:
                    raise OAuthProblem("Authorization code has expired")
                code.used = True
                return self._issue_pair_locked(code.user_id)
            grant = self._refresh.get(str(form.get("refresh_token") or ""))
            if grant is None:
                raise OAuthProblem("Cannot decrypt the refresh token")
            if grant.used:
                raise OAuthProblem("Token has been revoked")
            if now >= grant.expires_at:
                raise OAuthProblem("Token has expired")
            grant.used = True
            old_access = self._access.get(grant.access_token)
            if old_access is not None:
                old_access.revoked = True
            return self._issue_pair_locked(grant.user_id)

    # -- checking --------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> AccessGrant:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        with self._lock:
            grant = self._access.get(token.strip())
            if grant is None or grant.revoked or self._clock() >= grant.expires_at:
                raise unauthorized()
            return grant

    def expire_access_tokens(self) -> int:
        """Every access token issued so far stops working now; refresh tokens keep working."""
        now = self._clock()
        with self._lock:
            live = [grant for grant in self._access.values() if grant.expires_at > now]
            for grant in live:
                grant.expires_at = now
        return len(live)

    def forget(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()
            self._codes.clear()

    def dump(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            return {
                "access_tokens": [
                    {**asdict(grant), "live": not grant.revoked and now < grant.expires_at}
                    for grant in self._access.values()
                ],
                "refresh_tokens": [asdict(grant) for grant in self._refresh.values()],
                "authorization_codes": [asdict(code) for code in self._codes.values()],
            }
