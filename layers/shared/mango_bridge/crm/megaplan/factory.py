"""The Megaplan adapter for a tenant's connection: the integration user's login and password live in
Secrets Manager as `{"login", "password"}`; the token they buy is kept in memory per warm container."""

from __future__ import annotations

import json

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.megaplan.adapter import MegaplanAdapter
from mango_bridge.crm.megaplan.client import Credentials, MegaplanClient
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.crm.secret_store import SecretHolder, secret_text
from mango_bridge.settings.model import CrmConnection


class SecretCredentials(SecretHolder):
    """Reads the secret when the client first logs in (and again if Megaplan refuses the password,
    in case an operator has just changed it)."""

    def __call__(self) -> Credentials:
        text = secret_text(self._secrets(), self.secret_name, "the Megaplan credentials")
        try:
            data = json.loads(text)
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
