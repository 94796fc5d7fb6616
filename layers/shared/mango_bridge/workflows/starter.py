"""Start the post-call state machine for a call: once per call by construction, and once more per
late change of an already-decided call.

The execution name is derived from tenant and entry_id, so Mango's duplicate summaries, concurrent
deliveries and re-starts all land on the same execution; AWS refuses a second one with that name.
A notification that changes a call after its decision (a leg, a connection, a transfer, a recording
retried by Mango minutes later) starts one more execution, named after the changed call's decision
basis: its duplicates land on that execution too, and the run writes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Any

from mango_bridge.calls.model import CallAggregate
from mango_bridge.mango.notifications import (
    CallEvent,
    Notification,
    RecordingEvent,
    RecordStored,
    SummaryEvent,
)
from mango_bridge.store.table import client

if TYPE_CHECKING:
    from mango_bridge.store.decisions import DecisionStore
    from mango_bridge.store.outcomes import OutcomeStore

STATE_MACHINE_ENV = "POST_CALL_STATE_MACHINE_ARN"


def execution_name(tenant: str, entry_id: str, suffix: str = "") -> str:
    """≤ 80 characters of [A-Za-z0-9-_]: a readable tenant prefix and a hash of the call."""
    digest = hashlib.sha256(f"{tenant}\n{entry_id}".encode()).hexdigest()[:32]
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", tenant)[:30]
    return f"{prefix}-{digest}{suffix}"[:80]


class PostCallStarter:
    """An ingest follow-up: summaries start the post-call workflow."""

    def __init__(
        self,
        state_machine_arn: str | None = None,
        sfn: Any | None = None,
        decisions: DecisionStore | None = None,
        outcomes: OutcomeStore | None = None,
    ) -> None:
        self._arn = state_machine_arn or os.environ.get(STATE_MACHINE_ENV)
        self._sfn = sfn
        self._decisions = decisions
        self._outcomes = outcomes

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
        elif call is not None and call.status == "completed" and isinstance(notification, LATE_KINDS):
            self._late(tenant, call)
        elif (
            call is not None
            and isinstance(notification, RecordStored)
            and notification.kind == "record/added"
        ):
            self._late_recording(tenant, call, notification.recording_id)

    def _late_recording(self, tenant: str, call: CallAggregate, recording_id: str) -> None:
        """A recording stored after its call was written (the running execution picks up the usual
        late ones itself, while it waits for recordings): one more run adds its link to the record."""
        if call.status != "completed":
            return
        if self._outcomes is None:
            from mango_bridge.store.outcomes import OutcomeStore

            self._outcomes = OutcomeStore()
        outcome = self._outcomes.get(tenant, call.entry_id)
        if outcome is None or outcome.status != "done":
            return
        if recording_id in outcome.settled_recordings:
            return
        digest = hashlib.sha256(recording_id.encode()).hexdigest()[:16]
        self.start(tenant, call.entry_id, suffix=f"-r{digest}", reason="late")

    def _late(self, tenant: str, call: CallAggregate) -> None:
        """A call that changed after it was decided is decided again. One read of the decision's basis;
        nothing starts while the call is undecided (the running execution will see the change) or when
        the change does not touch the decision (a recording's completion)."""
        decided = self._decision_store().basis(tenant, call.entry_id)
        if not decided:
            return
        from mango_bridge.policy.readiness import decision_basis  # only for late notifications: cold start

        basis = decision_basis(call)
        if basis != decided:
            self.start(tenant, call.entry_id, suffix=f"-b{basis[:16]}", reason="late")

    def _decision_store(self) -> DecisionStore:
        if self._decisions is None:
            from mango_bridge.store.decisions import DecisionStore

            self._decisions = DecisionStore()
        return self._decisions


LATE_KINDS = (CallEvent, RecordingEvent)
"""Notifications that can change a decided call: its legs and the recordings that go with them."""
