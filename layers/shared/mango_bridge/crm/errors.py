"""The error names the post-call workflow retries or stops on (its ASL matches them by class name)."""

from __future__ import annotations


class CrmError(Exception):
    """Base of every CRM failure; `detail` is what the operator sees on a parked call."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class CrmRateLimited(CrmError):
    """429 or the adapter's own limiter: retried with backoff."""


class CrmUnavailable(CrmError):
    """5xx, timeouts, connection errors, an outage: retried with backoff, then parked."""


class CrmRejected(CrmError):
    """The CRM refused the write (validation, missing entity, forbidden): not retried, parked."""


class BadSettings(CrmError):
    """The tenant's settings or credentials cannot work (no CRM, revoked token…): parked, alarmed."""
