"""A tenant's CRM credentials in Secrets Manager, with one rule for every CRM on what a failure means: a
secret that is missing or may not be read is the tenant's settings (parked, alarmed), anything else is
an outage (retried)."""

from __future__ import annotations

from typing import Any

from mango_bridge.crm.errors import BadSettings, CrmError, CrmUnavailable

SETTINGS_CODES = ("ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException")


def secrets_manager() -> Any:
    """The functions' boto3 client, imported only when a secret is first read (tests pass their own)."""
    from mango_bridge.store.table import client

    return client("secretsmanager")


def secret_error(problem: Exception, secret_name: str, what: str, action: str = "read") -> CrmError:
    """`what` names the contents for the operator, e.g. «the Megaplan credentials»."""
    code = (getattr(problem, "response", None) or {}).get("Error", {}).get("Code", "")
    if code in SETTINGS_CODES:
        return BadSettings(f"cannot {action} {what} in secret {secret_name!r}: {code}")
    return CrmUnavailable(f"cannot {action} {what} in secret {secret_name!r}: {code or problem!r}")


def secret_text(client: Any, secret_name: str, what: str) -> str:
    """The secret's string ("" when it holds none); its parsing is the caller's."""
    try:
        answer = client.get_secret_value(SecretId=secret_name)
    except Exception as problem:
        raise secret_error(problem, secret_name, what) from None
    return str(answer.get("SecretString") or "")


class SecretHolder:
    """One tenant's secret, read (or for amoCRM's tokens rewritten) at need rather than once, so a
    password or token changed by an operator is picked up without a redeploy."""

    def __init__(self, secret_name: str, client: Any | None = None) -> None:
        self.secret_name = secret_name
        self._client = client

    def _secrets(self) -> Any:
        if self._client is None:
            self._client = secrets_manager()
        return self._client
