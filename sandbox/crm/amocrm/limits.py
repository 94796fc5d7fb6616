"""amoCRM's request limit as its docs state it, and nothing stricter.

* amoCRM developers, «Ограничения и рекомендации» / Kommo «Limitations» (developers.kommo.com/docs/
  limitations): «не более 7 запросов в секунду»; over it the API answers HTTP 429, and repeated or
  suspicious excess gets the IP blocked (HTTP 403). The docs name no header on the 429: no
  `Retry-After`, no remaining-allowance headers.
* `amocrm/amocrm-api-php` (`AmoCRMApiRequest::parseResponse`) turns a 429 whose body is not JSON into
  `AmoCRMApiTooManyRequestsException` and reads no header either.

So the sandbox counts requests per calendar second (7 in each whole second of its clock) and answers
a bare 429. `retry_after` (control `POST /_sandbox/config`) adds a `Retry-After` header, for clients
that honour one when an account sends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandbox.rate_window import SlidingWindow

DOCUMENTED_PER_SECOND = 7


@dataclass
class SecondWindow(SlidingWindow):
    """At most `limit` admitted requests within each whole second; refused ones do not count."""

    _second: int | None = None
    _count: int = 0

    def admit(self) -> bool:
        if self.limit is None:
            return True
        second = math.floor(self.clock())
        if second != self._second:
            self._second, self._count = second, 0
        if self._count >= self.limit:
            return False
        self._count += 1
        return True

    def clear(self) -> None:
        super().clear()
        self._second, self._count = None, 0
