"""BPMSoft credentials: «Логин API BPMSoft» and «Пароль API BPMSoft», kept in Secrets Manager."""

from __future__ import annotations

import json
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.secret_store import SecretHolder, secret_text


class Credentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    login: str = Field(min_length=1)
    password: str = Field(min_length=1)


class CredentialSource(Protocol):
    def load(self) -> Credentials: ...


class StaticCredentials:
    """Credentials held in memory (tests, the connection check of a form not yet saved)."""

    def __init__(self, login: str, password: str) -> None:
        self._credentials = Credentials(login=login, password=password)

    def load(self) -> Credentials:
        return self._credentials


class SecretsManagerCredentials(SecretHolder):
    """`{"login": "…", "password": "…"}` in one secret, read again at every login so a changed password
    (see the guide's «Как изменить логин и пароль API BPMSoft») is picked up without a redeploy."""

    def load(self) -> Credentials:
        text = secret_text(self._secrets(), self.secret_name, "the BPMSoft credentials")
        try:
            return Credentials.model_validate(json.loads(text or "{}"))
        except (ValueError, ValidationError):
            raise BadSettings(
                f'the secret {self.secret_name!r} must hold {{"login": "…", "password": "…"}} of the BPMSoft '
                "API user"
            ) from None
