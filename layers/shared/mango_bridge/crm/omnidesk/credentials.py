"""The Omnidesk login in Secrets Manager: `{"staff_email", "api_key"}` (`email` is accepted for
`staff_email`), optionally `"channel"`: the code of the account's calls channel («Звонки»)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.omnidesk.payloads import DEFAULT_CHANNEL
from mango_bridge.crm.secret_store import secret_text, secrets_manager


class OmnideskCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")

    staff_email: str = Field(min_length=3, description="The staff member the bridge writes as")
    api_key: str = Field(min_length=1, description="That staff member's API key (Профиль → API)")
    channel: str = Field(default=DEFAULT_CHANNEL, min_length=1, description="Code of the calls channel")

    @model_validator(mode="before")
    @classmethod
    def _email_alias(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "staff_email" not in raw and "email" in raw:
            return {**raw, "staff_email": raw["email"]}
        return raw


def load_credentials(secret_name: str, client: Any | None = None) -> OmnideskCredentials:
    """Read and check the secret; a missing or malformed one is a settings problem, not an outage."""
    text = secret_text(
        client if client is not None else secrets_manager(), secret_name, "the Omnidesk credentials"
    )
    try:
        return OmnideskCredentials.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        raise BadSettings(
            f'secret {secret_name!r} does not hold Omnidesk credentials: {{"staff_email", "api_key"}} are required'
        ) from None
