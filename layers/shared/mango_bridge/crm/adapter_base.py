"""What every CRM adapter does alike, whatever the CRM: it is copied for each call it writes for, it
refuses an intent whose predecessors have not run, and a follow-up request after a successful write
never raises, since raising would make the workflow run the intent again and create the record twice.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, Self, TypeVar

from mango_bridge.crm.errors import CrmError, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.port import Executed, RecordingLink
from mango_bridge.policy.facts import Capabilities, EntityRef
from mango_bridge.policy.intents import CreateCompany

T = TypeVar("T")

LinkBuilder = Callable[[RecordingLink], str | None]
"""The URL the CRM gets for a recording (None leaves it out); by default the bridge's own stable link."""


def bridge_link(link: RecordingLink) -> str | None:
    return link.url


class Directory:
    """What an adapter reads once (users, pipelines…) and shares with its `for_call` copies and every
    thread of a warm container. The read itself is not under the lock: two first readers both read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def remembered(self, name: str, load: Callable[[], T]) -> T:
        """The attribute `name` (None while unread), read with `load` the first time."""
        with self.lock:
            known = getattr(self, name)
        if known is not None:
            return known
        value = load()
        with self.lock:
            setattr(self, name, value)
        return value


class AdapterBase:
    """The state every adapter holds; `_directory` (its caches) is shared by the `for_call` copies."""

    capabilities: Capabilities
    """What this CRM can hold: the same for every account, so set on the class."""

    def __init__(
        self,
        client: Any,
        directory: Directory,
        entry_id: str | None,
        follow_up_attempts: int,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.entry_id = entry_id
        self.follow_up_attempts = max(1, follow_up_attempts)
        self._sleep = sleep
        self._directory = directory

    def for_call(self, entry_id: str) -> Self:
        """The same adapter (client, session or token, caches) writing for one call: its `entry_id` makes
        the CRM-side keys of its writes stable across retries."""
        scoped = copy.copy(self)
        scoped.entry_id = entry_id
        return scoped

    @staticmethod
    def _refs(done: dict[str, Executed], keys: tuple[str, ...], needed_by: str) -> list[EntityRef]:
        """The records the intents named by `keys` produced, in that order."""
        missing = [key for key in keys if key not in done]
        if missing:
            raise CrmRejected(
                f"{needed_by} refers to {', '.join(missing)}, which has not been executed for this call"
            )
        return [ref for key in keys for ref in done[key].refs]

    def _company_contact(self, intent: CreateCompany, done: dict[str, Executed]) -> EntityRef | None:
        """The contact this call created for the person a new company is linked to, if any."""
        if not intent.contact_key:
            return None
        refs = self._refs(done, (intent.contact_key,), intent.key)
        return next((r for r in refs if r.kind == "contact"), None)

    def _follow_up(self, action: Callable[[], Any], what: str) -> str | None:
        """A second request after a successful write: retried on 429/5xx, never raised; the failure is
        returned for `Executed.detail`."""
        problem: CrmError | None = None
        for attempt in range(self.follow_up_attempts):
            try:
                action()
                return None
            except (CrmRateLimited, CrmUnavailable) as error:
                problem = error
                if attempt + 1 < self.follow_up_attempts:
                    self._sleep(min(2.0, error.retry_after or 0.5 * 2**attempt))
            except CrmError as error:
                problem = error
                break
        return f"{what} failed: {problem}"
