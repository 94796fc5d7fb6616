"""Mango's result codes by class, and the error names the workflows retry or stop on.

Codes are hierarchical (D110 p.43): an unknown code is read by its class, 2219 as 2210, 1090 as 1000.
"""

from __future__ import annotations

MEANINGS: dict[int, str] = {
    1000: "success",
    2000: "billing restriction",
    2100: "account inaccessible",
    2200: "account access limited",
    2210: "limited by period",
    2220: "concurrent calls or actions limited",
    2230: "service unavailable",
    2240: "insufficient funds",
    2300: "direction blocked",
    3000: "bad request",
    3100: "bad command parameters",
    3101: "method other than POST",
    3102: "sign does not match",
    3103: "mandatory parameter missing",
    3104: "parameter in wrong format",
    3105: "wrong access key",
    3111: "bad from/to dates",
    3200: "wrong subscriber number",
    3300: "object does not exist",
    3310: "call not found",
    3320: "recording not found",
    3330: "number not found",
    3400: "invalid JSON sent",
    4000: "action cannot be performed",
    4001: "command not supported",
    4100: "impossible by PBX logic",
    4101: "call finished or does not exist",
    4290: "rate limit exceeded",
    5000: "server error",
    5001: "overload",
    5008: "service unavailable",
}


def meaning(code: int) -> str:
    """The most specific documented meaning of a code, falling back to its class."""
    for candidate in (code, code // 10 * 10, code // 100 * 100, code // 1000 * 1000):
        if candidate in MEANINGS:
            return MEANINGS[candidate]
    return "unknown result"


class MangoError(Exception):
    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class MangoUnavailable(MangoError):
    """Overload, rate limit, outage or lock-out: worth retrying later with backoff."""


class MangoRejected(MangoError):
    """Our request was wrong (3xxx). Never retried as is: Mango locks out clients that repeat them."""


class MangoFailed(MangoError):
    """Mango understood and said no (billing 2xxx, impossible 4xxx): retrying will not help."""


def error_for(code: int, status: int | None, detail: str = "") -> MangoError | None:
    """The error a non-success code stands for, or None for success."""
    text = f"Mango result {code} ({meaning(code)})" + (f": {detail}" if detail else "")
    if 1000 <= code < 2000:
        return None
    if code == 4290 or code >= 5000:
        return MangoUnavailable(text, code=code, status=status)
    if 3000 <= code < 4000:
        return MangoRejected(text, code=code, status=status)
    return MangoFailed(text, code=code, status=status)
