"""amoCRM's 7 requests/s per account, kept on our side so the account is never throttled or blocked.

amoCRM counts requests in a rolling second, so a classic bucket that lets 7 through at once and then
refills 7 more within the same second would still be refused. The bucket here holds `burst` tokens
(1 by default: requests are spaced evenly) and refills at `per_second / (1 + margin)`: the margin
absorbs the jitter between when we send and when amoCRM stamps the request.

One limiter per account per process (`limiter_for`): every client for that account shares it. Lambdas
running in parallel each have their own, which is why the margin exists and why a 429 is still
mapped to `CrmRateLimited` for the workflow to retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

AMOCRM_REQUESTS_PER_SECOND = 7.0
DEFAULT_MARGIN = 0.05


class RateLimiter:
    """A thread-safe token bucket; `acquire()` blocks until the caller may send one request."""

    def __init__(
        self,
        per_second: float = AMOCRM_REQUESTS_PER_SECOND,
        *,
        burst: int = 1,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0 or burst < 1 or margin < 0:
            raise ValueError("per_second must be > 0, burst >= 1, margin >= 0")
        self.interval = (1.0 + margin) / per_second
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._theoretical: float | None = None

    def reserve(self) -> float:
        """Claim the next slot; the seconds to wait before using it (0 when a token is ready).

        The bucket is kept as the time it would be full again (GCRA): a request may go once that time
        is at most `burst - 1` intervals ahead.
        """
        with self._lock:
            now = self._clock()
            full_at = now if self._theoretical is None else max(self._theoretical, now)
            send_at = max(now, full_at - (self.burst - 1) * self.interval)
            self._theoretical = full_at + self.interval
            return send_at - now

    def hold(self, seconds: float) -> None:
        """amoCRM asked to wait (`Retry-After`): no request of this account goes before then."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._theoretical = max(self._theoretical or until, until)

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(account: str) -> RateLimiter:
    """The process-wide limiter of one amoCRM account (keyed by its base URL)."""
    with _registry_lock:
        limiter = _registry.get(account)
        if limiter is None:
            limiter = _registry[account] = RateLimiter()
        return limiter
