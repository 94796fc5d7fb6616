"""A CRM's request allowance, as the sandboxes enforce it: at most `limit` admitted requests in any
`seconds`-long window (amoCRM: 7 per second, Omnidesk: a per-minute budget)."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

from sandbox.faults import Clock


@dataclass
class SlidingWindow:
    """Refused requests do not count; `limit` None disables the allowance."""

    limit: int | None
    clock: Clock
    seconds: float = 1.0
    _admitted: collections.deque[float] = field(default_factory=collections.deque)

    def _expire(self, now: float) -> None:
        while self._admitted and now - self._admitted[0] >= self.seconds:
            self._admitted.popleft()

    def admit(self) -> bool:
        if self.limit is None:
            return True
        now = self.clock()
        self._expire(now)
        if len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now)
        return True

    def clear(self) -> None:
        self._admitted.clear()


class RateLimited:
    """Mixin: a sandbox whose `window` a test may retune; a new limit starts from an empty window."""

    window: SlidingWindow
    _lock: threading.RLock

    @property
    def rate_limit(self) -> int | None:
        return self.window.limit

    @rate_limit.setter
    def rate_limit(self, limit: int | None) -> None:
        with self._lock:
            self.window.limit = limit
            self.window.clear()
