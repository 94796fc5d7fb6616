"""The Megaplan adapter for a tenant's connection: the integration user's login and password live in
Secrets Manager as `{"login", "password"}`; the token they buy is kept in memory per warm container."""

from __future__ import annotations

import json
from typing import Any

from mango_bridge.crm.errors import BadSettings, CrmUnavailable
from mango_bridge.crm.megaplan.adapter import MegaplanAdapter
from mango_bridge.crm.megaplan.client import Credentials, MegaplanClient
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmConnection


class SecretCredentials:
    """Reads the secret when the client first logs in (and again if Megaplan refuses the password,
    in case an operator has just changed it)."""

    def __init__(self, secret_name: str, client: Any | None = None) -> None:
        self.secret_name = secret_name
        self._client = client

    def __call__(self) -> Credentials:
        if self._client is None:
            from mango_bridge.store.table import client

            self._client = client("secretsmanager")
        try:
            answer = self._client.get_secret_value(SecretId=self.secret_name)
        except Exception as problem:
            code = (getattr(problem, "response", None) or {}).get("Error", {}).get("Code", "")
            if code in ("ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"):
                raise BadSettings(
                    f"cannot read the Megaplan credentials in secret {self.secret_name!r}: {code}"
                ) from None
            raise CrmUnavailable(f"cannot read secret {self.secret_name!r}: {code or problem!r}") from None
        try:
            data = json.loads(answer.get("SecretString") or "")
        except ValueError:
            data = None
        if not isinstance(data, dict) or not data.get("login") or not data.get("password"):
            raise BadSettings(
                f'secret {self.secret_name!r} must hold {{"login", "password"}} of a Megaplan user'
            )
        return Credentials(login=str(data["login"]), password=str(data["password"]))


def build(crm: CrmConnection) -> CrmAdapter:
    assert crm.credentials is not None  # the registry checks it first
    return MegaplanAdapter(MegaplanClient(crm.url, SecretCredentials(crm.credentials.secret_name)))
