"""BPMSoft credentials: «Логин API BPMSoft» and «Пароль API BPMSoft», kept in Secrets Manager."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mango_bridge.crm.errors import BadSettings, CrmUnavailable


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


class SecretsManagerCredentials:
    """`{"login": "…", "password": "…"}` in one secret, read again at every login so a changed password
    (see the guide's «Как изменить логин и пароль API BPMSoft») is picked up without a redeploy."""

    def __init__(self, secret_name: str, client: Any | None = None) -> None:
        self.secret_name = secret_name
        self._client = client

    def _secrets(self) -> Any:
        if self._client is None:
            from mango_bridge.store.table import client

            self._client = client("secretsmanager")
        return self._client

    def load(self) -> Credentials:
        try:
            answer = self._secrets().get_secret_value(SecretId=self.secret_name)
        except Exception as problem:
            code = (getattr(problem, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"):
                raise BadSettings(
                    f"the BPMSoft credentials secret {self.secret_name!r} cannot be read ({code})"
                ) from None
            raise CrmUnavailable(
                f"Secrets Manager did not answer for {self.secret_name!r}: {problem}"
            ) from None
        try:
            return Credentials.model_validate(json.loads(answer.get("SecretString") or "{}"))
        except (ValueError, ValidationError):
            raise BadSettings(
                f'the secret {self.secret_name!r} must hold {{"login": "…", "password": "…"}} of the BPMSoft '
                "API user"
            ) from None
