"""The post-call step: decide once, write every intent to the CRM once, attach recordings when ready.

It runs as the `Process` and `Finish` states of statemachines/post_call.asl.json. `Process` executes
everything it can; call records whose recordings are still being stored by Mango wait (Process
raises RecordingsPending and the state machine retries it later), and `Finish` writes them with
whatever recordings exist by then.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mango_bridge.calls.model import CallAggregate
from mango_bridge.crm.errors import BadSettings, CrmError
from mango_bridge.crm.port import CallAnnotation, CrmAdapter, Executed, RecordingLink
from mango_bridge.enrichment.schedule import ANALYTICS_SCHEDULE, RATING_SCHEDULE, first_due
from mango_bridge.policy.engine import decide
from mango_bridge.policy.intents import LogCall
from mango_bridge.policy.readiness import decision_basis, unsettled_reasons
from mango_bridge.policy.redecide import merge
from mango_bridge.settings.model import TenantSettings
from mango_bridge.store.action_history import ActionHistoryStore
from mango_bridge.store.calls import CallStore
from mango_bridge.store.decisions import DecisionStore, StoredDecision
from mango_bridge.store.enrichment import EnrichmentJob, EnrichmentJobs
from mango_bridge.store.outcomes import CrmOutcome, OutcomeStore
from mango_bridge.store.tenants import TenantStore
from mango_bridge.workflows.executor import IntentExecutor

logger = logging.getLogger(__name__)

NO_FILE_CODES = {4002}
"""`events/recording` Completed codes that mean no file will ever exist (shorter than the minimum)."""

AdapterFactory = Callable[[str, TenantSettings], CrmAdapter]
LinkFactory = Callable[[str, str], str]


class CallMissing(CrmError):
    """The workflow was started for a call the table does not hold."""


class EarlierCallPending(Exception):
    """An earlier call from the same customer has not been written yet; the state machine retries."""


ORDERING_WINDOW_SECONDS = 6 * 3600
"""How far back a customer's earlier calls are looked for."""
ORDERING_ATTEMPTS = 10
"""Retries a live call spends waiting for a customer's earlier call still in progress (15 s × 1.5ⁿ:
about 25 min): its summary may never come."""
ORDERING_FINISHED_ATTEMPTS = 40
"""Retries a live call spends waiting for a customer's earlier call whose post-call work is underway
(capped at 2 min apart: about an hour); that work itself ends, written or parked, well before."""
SETTLE_ATTEMPTS = 4
"""Retries a live call spends waiting for notifications its own events say are missing (20 s × 2ⁿ: 5 min)."""
LIVE_REASONS = frozenset({"summary", "late"})
"""Executions started by Mango's own notifications; replays and the nightly sync never wait."""
MAX_PASSES = 3
"""Decide-and-write passes in one step when notifications keep landing while we write."""


class CallUnsettled(Exception):
    """The call's own notifications say some are still on their way (a leg that never ended, a hole
    in a leg's seq, a talked call without its employee's leg); the state machine retries shortly."""


class RecordingsPending(Exception):
    """Call records wait for recordings Mango is still storing; the state machine retries later.

    Raised rather than returned so that waiting costs a retry, not extra states: Standard workflows
    are billed per state transition, and most calls then need exactly one.
    """


@dataclass
class PostCall:
    adapters: AdapterFactory
    recording_link: LinkFactory
    calls: CallStore = field(default_factory=CallStore)
    tenants: TenantStore = field(default_factory=TenantStore)
    decisions: DecisionStore = field(default_factory=DecisionStore)
    outcomes: OutcomeStore = field(default_factory=OutcomeStore)
    executor: IntentExecutor = field(default_factory=IntentExecutor)
    jobs: EnrichmentJobs = field(default_factory=EnrichmentJobs)
    action_history: ActionHistoryStore = field(default_factory=ActionHistoryStore)
    clock: Callable[[], float] = time.time

    def run(
        self,
        tenant: str,
        entry_id: str,
        *,
        final: bool = False,
        attempt: int = 0,
        reason: str = "summary",
    ) -> dict[str, Any]:
        """One post-call step. `attempt` is the state's retry count and `reason` why the execution was
        started: only a live call (`summary`, `late`) waits for the rest of its notifications and for
        the customer's earlier calls, and only for a bounded number of attempts."""
        call = self.calls.get(tenant, entry_id)
        if call is None:
            raise CallMissing(f"call {entry_id} of tenant {tenant} is not in the journal")
        record = self.tenants.get(tenant)
        if record is None:
            raise BadSettings(f"tenant {tenant} does not exist")
        settings = record.settings
        previous = self.outcomes.get(tenant, entry_id)
        runs = (previous.runs if previous else 0) + 1
        if settings.crm is None:
            self.outcomes.save(tenant, entry_id, CrmOutcome(status="no_crm", runs=runs))
            return self._result(tenant, entry_id, "no_crm", [])

        live = reason in LIVE_REASONS
        written_before = set(previous.executed) if previous else set()
        rewritten = dict(previous.rewritten) if previous else {}
        for key, tag in (previous.restore if previous else {}).items():
            rewritten[key] = f"{key}~{tag}"  # the CRM lost this record: write it again, under a new key
        adapter = self.adapters(tenant, settings).for_call(entry_id)
        for _ in range(MAX_PASSES):
            stored = self._decision(tenant, call, settings, adapter, live=live, final=final, attempt=attempt)
            done, pending = self._execute(
                tenant,
                call,
                settings,
                adapter,
                stored,
                final=final,
                written_before=written_before,
                rewritten=rewritten,
            )
            latest = self.calls.get(tenant, entry_id)
            if latest is None or decision_basis(latest) == stored.basis:
                break
            # A notification landed while we wrote: decide again now rather than leave it to a new run.
            call = latest

        if not pending:
            self._run_role_rules(tenant, call, settings, adapter)
            _refresh_routing_cache(tenant, call, settings, adapter)
        links = self._links(tenant, call, settings)
        delivered = self._attach_late_recordings(tenant, entry_id, stored, adapter, done, links, previous)
        self._schedule_enrichment(tenant, call, settings, stored.decision.of(LogCall), done, links)
        status = "pending_recordings" if pending else "done"
        executed = {key: result.model_dump(mode="json") for key, result in done.items()}
        self.outcomes.save(
            tenant,
            entry_id,
            CrmOutcome(
                status=status,
                executed=executed,
                pending=pending,
                runs=runs,
                binding=previous.binding if previous else None,
                delivered=delivered,
                rewritten=rewritten,
                settled_recordings=sorted(r.recording_id for r in call.recordings if r.ready),
            ),
        )
        if pending:
            raise RecordingsPending(
                f"{len(pending)} call record(s) wait for recordings: {', '.join(pending)}"
            )
        return self._result(tenant, entry_id, status, list(done))

    def _decision(
        self,
        tenant: str,
        call: CallAggregate,
        settings: TenantSettings,
        adapter: CrmAdapter,
        *,
        live: bool,
        final: bool,
        attempt: int,
    ) -> StoredDecision:
        """The stored decision, taken now if there is none, or taken again (on the stored CRM facts)
        when the call changed since: a leg, a connection, a transfer or a recording arrived late."""
        basis = decision_basis(call)
        stored = self.decisions.get(tenant, call.entry_id)
        if stored is not None and (stored.basis == basis or not stored.basis):
            return stored
        unsettled = unsettled_reasons(call)
        if unsettled and live and not final and attempt < SETTLE_ATTEMPTS:
            raise CallUnsettled(f"waiting for the rest of the call: {'; '.join(unsettled)}")
        if stored is None:
            if live:
                self._after_earlier_calls(tenant, call, attempt)
            facts = adapter.facts(_customer_phone(call))
            decision = decide(call, settings, facts, adapter.capabilities)
            if unsettled:
                logger.warning("decided without the rest of the call", extra={"unsettled": unsettled})
            return self.decisions.put_first(tenant, call.entry_id, decision, facts, basis, unsettled)
        while stored is not None and stored.basis != basis:
            fresh = decide(call, settings, stored.facts, adapter.capabilities)
            merged = merge(stored.decision, fresh)
            replaced = self.decisions.replace(tenant, call.entry_id, stored, merged, basis, unsettled)
            if replaced is not None:
                logger.info(
                    "call decided again after a late notification",
                    extra={"revision": replaced.revision, "intents": replaced.decision.keys},
                )
                return replaced
            stored = self.decisions.get(tenant, call.entry_id)
        assert stored is not None
        return stored

    def _links(self, tenant: str, call: CallAggregate, settings: TenantSettings) -> dict[str, RecordingLink]:
        if not settings.recordings:
            return {}
        ready = [r.recording_id for r in call.recordings if r.ready]
        return {rid: RecordingLink(recording_id=rid, url=self.recording_link(tenant, rid)) for rid in ready}

    def _execute(
        self,
        tenant: str,
        call: CallAggregate,
        settings: TenantSettings,
        adapter: CrmAdapter,
        stored: StoredDecision,
        *,
        final: bool,
        written_before: set[str],
        rewritten: dict[str, str],
    ) -> tuple[dict[str, Executed], list[str]]:
        """Every intent once (the executor skips what an earlier run wrote); call records whose
        recordings Mango is still storing wait unless this is the final attempt (a record already in
        the CRM never waits: its late recordings are added to it)."""
        links = self._links(tenant, call, settings)
        done: dict[str, Executed] = {}
        pending: list[str] = []
        for intent in stored.decision.intents:
            if (
                isinstance(intent, LogCall)
                and not final
                and intent.key not in written_before
                and _waits_for_recordings(call, intent, settings)
            ):
                pending.append(intent.key)
                continue
            written = intent
            if isinstance(intent, LogCall) and intent.key in rewritten:
                written = intent.model_copy(update={"key": rewritten[intent.key]})
            done[intent.key] = self.executor.run(tenant, call.entry_id, written, adapter, done, links)
        return done, pending

    def _attach_late_recordings(
        self,
        tenant: str,
        entry_id: str,
        stored: StoredDecision,
        adapter: CrmAdapter,
        done: dict[str, Executed],
        links: dict[str, RecordingLink],
        previous: CrmOutcome | None,
    ) -> dict[str, list[str]]:
        """Which recordings each call record carries, after adding the ones Mango stored too late for
        the record (Mango's own apps deliver recordings up to 30 minutes late): each is written onto
        the record once (an annotation keyed by the recording), whenever it arrives."""
        delivered = {key: list(ids) for key, ids in (previous.delivered if previous else {}).items()}
        for record in stored.decision.of(LogCall):
            result = done.get(record.key)
            if result is None:
                continue
            # What the record was written with is kept with its write (runs may overlap); the late
            # ones added since are in the outcome.
            sent = delivered.setdefault(record.key, [])
            sent.extend(rid for rid in result.recordings if rid not in sent)
            for recording_id in [rid for rid in record.recording_ids if rid in links and rid not in sent]:
                annotation = CallAnnotation(
                    key=f"recording:{recording_id}", recordings=(links[recording_id],)
                )
                added = self.executor.annotate(tenant, entry_id, annotation, adapter, result)
                sent.append(recording_id)  # once: what the CRM made of it is in the annotation's detail
                logger.info("late recording added to its call record", extra={"detail": added.detail})
        return delivered

    def _after_earlier_calls(self, tenant: str, call: CallAggregate, attempt: int) -> None:
        """Decide a customer's calls in the order they were made: a callback looked up before the
        missed call it answers was written would find no client (and create a second one, or open a
        second case). An earlier call whose summary has arrived is being written (its own retries end
        in `done` or `parked`), so it is waited for up to ORDERING_FINISHED_ATTEMPTS; one still in
        progress may never get its summary, so only ORDERING_ATTEMPTS. Replays and the nightly sync
        never wait (the caller checks)."""
        earlier = self.calls.earlier_calls(tenant, call, ORDERING_WINDOW_SECONDS)
        waiting = [entry_id for entry_id in earlier if self.outcomes.get(tenant, entry_id) is None]
        if not waiting or attempt >= ORDERING_FINISHED_ATTEMPTS:
            return
        if attempt >= ORDERING_ATTEMPTS:
            statuses = self.calls.statuses(tenant, waiting)
            waiting = [entry_id for entry_id in waiting if statuses.get(entry_id) == "completed"]
        if waiting:
            raise EarlierCallPending(
                f"waiting for {len(waiting)} earlier call(s) from the same customer to be written first"
            )

    def _run_role_rules(
        self, tenant: str, call: CallAggregate, settings: TenantSettings, adapter: CrmAdapter
    ) -> None:
        """BPMSoft's «Настройка действий в зависимости от роли» (F31), once the call records exist to
        bind to; a retry replays the first attempt's reads so it follows the same rows."""
        if not settings.role_rules or self.action_history.get(tenant, call.entry_id) is not None:
            return
        backend_for = getattr(adapter, "rules_backend", None)
        if backend_for is None:
            return  # only BPMSoft has the table; settings validation keeps it off other CRMs
        from mango_bridge.role_rules.run import run_role_rules

        backend = backend_for()
        history = run_role_rules(
            call, settings, backend, journal=self.action_history.journal(tenant, call.entry_id)
        )
        self.action_history.put_first(tenant, call.entry_id, history, shown=settings.save_action_history)
        if settings.save_action_history and hasattr(backend, "record_history"):
            backend.record_history(call.entry_id, history)  # the call card's «Действия звонка» tab

    def _schedule_enrichment(
        self,
        tenant: str,
        call: CallAggregate,
        settings: TenantSettings,
        records: list[LogCall],
        done: dict[str, Executed],
        links: dict[str, RecordingLink],
    ) -> None:
        """Ask Mango later for what it learns after the call (F20–F22), only about records that are in
        the CRM: transcripts and topics only for recordings delivered with them (F21)."""
        written = [r for r in records if r.key in done and done[r.key].refs]
        analytics = settings.speech_analytics
        if settings.recordings and (analytics.topics_enabled or analytics.texts_enabled):
            by_id = {r.recording_id: r for r in call.recordings}
            for record in written:
                for recording_id in record.recording_ids:
                    if recording_id not in links:
                        continue
                    recording = by_id.get(recording_id)
                    origin = (recording.added_at or recording.completed_at if recording else None) or int(
                        self.clock()
                    )
                    self.jobs.schedule(
                        EnrichmentJob(
                            tenant=tenant,
                            entry_id=call.entry_id,
                            kind="analytics",
                            recording_id=recording_id,
                            record_key=record.key,
                            origin=origin,
                            due=first_due(origin, int(self.clock()), ANALYTICS_SCHEDULE),
                            wants_topics=analytics.topics_enabled,
                            wants_texts=analytics.texts_enabled,
                        )
                    )
        talked = [r for r in written if r.result in ("answered", "reached")]
        if settings.quality_score and talked:
            origin = call.ended_at or int(self.clock())
            self.jobs.schedule(
                EnrichmentJob(
                    tenant=tenant,
                    entry_id=call.entry_id,
                    kind="rating",
                    record_key=talked[-1].key,
                    origin=origin,
                    due=first_due(origin, int(self.clock()), RATING_SCHEDULE),
                )
            )

    def park(self, tenant: str, entry_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Record why the call could not reach the CRM so it is visible and can be replayed."""
        previous = self.outcomes.get(tenant, entry_id)
        error = error or {}
        outcome = CrmOutcome(
            status="parked",
            executed=previous.executed if previous else {},
            pending=previous.pending if previous else [],
            error=str(error.get("Error") or "unknown"),
            error_detail=_cause(error.get("Cause")),
            runs=previous.runs if previous else 0,
            binding=previous.binding if previous else None,
            delivered=previous.delivered if previous else {},
            rewritten=previous.rewritten if previous else {},
            restore=previous.restore if previous else {},
            settled_recordings=previous.settled_recordings if previous else [],
        )
        self.outcomes.save(tenant, entry_id, outcome)
        return self._result(tenant, entry_id, "parked", [])

    @staticmethod
    def _result(tenant: str, entry_id: str, status: str, executed: list[str]) -> dict[str, Any]:
        return {"tenant": tenant, "entry_id": entry_id, "status": status, "executed": executed}


def _refresh_routing_cache(
    tenant: str, call: CallAggregate, settings: TenantSettings, adapter: CrmAdapter
) -> None:
    """Smart routing reads the caller's client from a cache; after a call the CRM may hold a new
    client or responsible for the number, so the entry is refreshed now. A failure costs nothing
    but a slower next routing decision."""
    routing = settings.routing
    if call.direction != "incoming" or not (
        routing.route_to_responsible or any(r.enabled for r in routing.rules)
    ):
        return
    from mango_bridge.store.phone_cache import refresh_phone_cache

    try:
        refresh_phone_cache(tenant, call.caller.e164, adapter)
    except Exception:  # never let the cache fail the CRM work
        logger.warning("routing cache not refreshed", exc_info=True)


def _customer_phone(call: CallAggregate) -> str | None:
    party = call.callee if call.direction == "outgoing" else call.caller
    return party.e164 or party.number


def _waits_for_recordings(call: CallAggregate, intent: LogCall, settings: TenantSettings) -> bool:
    """A call record waits while one of its recordings may still appear in Mango's storage."""
    if not settings.recordings:
        return False
    by_id = {r.recording_id: r for r in call.recordings}
    for recording_id in intent.recording_ids:
        recording = by_id.get(recording_id)
        if recording is None or recording.ready:
            continue
        if recording.completion_code in NO_FILE_CODES:
            continue
        return True
    return False


def _cause(cause: Any) -> str | None:
    """Step Functions hands the Lambda error over as a JSON string; keep its message readable."""
    if not cause:
        return None
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            return str(parsed.get("errorMessage") or cause)
        except ValueError:
            return cause
    return str(cause)
