"""Start the post-call state machine for a call: once per call by construction.

The execution name is derived from tenant and entry_id, so Mango's duplicate summaries, concurrent
deliveries and re-starts all land on the same execution; AWS refuses a second one with that name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from mango_bridge.calls.model import CallAggregate
from mango_bridge.mango.notifications import Notification, SummaryEvent
from mango_bridge.store.table import client

STATE_MACHINE_ENV = "POST_CALL_STATE_MACHINE_ARN"


def execution_name(tenant: str, entry_id: str, suffix: str = "") -> str:
    """≤ 80 characters of [A-Za-z0-9-_]: a readable tenant prefix and a hash of the call."""
    digest = hashlib.sha256(f"{tenant}\n{entry_id}".encode()).hexdigest()[:32]
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", tenant)[:30]
    return f"{prefix}-{digest}{suffix}"[:80]


class PostCallStarter:
    """An ingest follow-up: summaries start the post-call workflow."""

    def __init__(self, state_machine_arn: str | None = None, sfn: Any | None = None) -> None:
        self._arn = state_machine_arn or os.environ.get(STATE_MACHINE_ENV)
        self._sfn = sfn

    @property
    def enabled(self) -> bool:
        return bool(self._arn)

    def start(self, tenant: str, entry_id: str, *, suffix: str = "", reason: str = "summary") -> str | None:
        """The execution ARN, or None when that execution already exists (a no-op by design)."""
        if not self._arn:
            return None
        sfn = self._sfn or client("stepfunctions")
        try:
            return sfn.start_execution(
                stateMachineArn=self._arn,
                name=execution_name(tenant, entry_id, suffix),
                input=json.dumps({"tenant": tenant, "entry_id": entry_id, "reason": reason}),
            )["executionArn"]
        except sfn.exceptions.ExecutionAlreadyExists:
            return None

    def __call__(self, tenant: str, notification: Notification, call: CallAggregate | None) -> None:
        if isinstance(notification, SummaryEvent):
            self.start(tenant, notification.entry_id)
