"""One routing attempt, end to end: gather inputs under a deadline, decide, send `commands/route` once.

Called by the route function for an `Appeared` IVR/queue leg, for each DTMF sequence of that leg
(an IVR choice can make a waiting rule decidable), and for `result/route`. Every path ends in a
recorded outcome, and every failure leaves the call where it is — in Mango's own scheme — so no
caller is stranded: no rule, an unknown answer, a CRM that is slow or down, a rate limit that would
make the command late, a leg that has already left the IVR.

The stores, clients and the CRM adapter are handed in (`Dependencies`), so this module imports no
AWS or HTTP code and component tests can run it against moto and the sandboxes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from mango_bridge.calls.visitor import Visitor
from mango_bridge.mango.errors import MangoError, MangoFailed, MangoRejected, MangoUnavailable
from mango_bridge.policy.facts import CrmFacts
from mango_bridge.routing.decision import RouteDecision, applies_to_line, decide, is_enabled, uses_crm
from mango_bridge.routing.inputs import CallView, CrmView, DtmfEntry, Presence, RoutingInputs

if TYPE_CHECKING:
    from mango_bridge.calls.model import CallAggregate
    from mango_bridge.crm.port import CrmAdapter
    from mango_bridge.settings.model import TenantSettings
    from mango_bridge.store.calls import CallStore
    from mango_bridge.store.phone_cache import PhoneCache
    from mango_bridge.store.routes import PresenceStore, RouteRateLimit, RouteRecord, RouteStore

ROUTABLE_LOCATIONS = frozenset({"ivr", "queue"})
LEG_GONE = 4101
SUCCESS = 1000


class MangoRouter(Protocol):
    """The part of `MangoClient` routing uses."""

    def route(
        self, call_id: str, to_number: str, *, display_name: str | None = None, command_id: str | None = None
    ) -> str: ...


@dataclass
class Budget:
    """How long routing may take, counted from the moment ingest received the notification."""

    deadline: float = 3.0
    """Seconds after `received_at` by which `commands/route` must have left (the greeting lasts 5–8 s)."""
    crm_lookup: float = 1.2
    """Hard limit on one CRM lookup; past it the CRM counts as unavailable for this decision."""
    background_fill: float = 5.0
    """How long a late CRM lookup may keep running after the decision, to fill the phone cache."""


@dataclass
class Dependencies:
    settings: Callable[[str], TenantSettings | None]
    calls: CallStore
    routes: RouteStore
    limiter: RouteRateLimit
    presence: PresenceStore
    cache: PhoneCache
    mango: Callable[[str], MangoRouter | None]
    adapter: Callable[[str, TenantSettings], CrmAdapter]
    capture: Callable[[str, str, str], Visitor | None] | None = None
    budget: Budget = field(default_factory=Budget)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=8))


@dataclass
class Trigger:
    """What ingest saw: a routable leg appeared, the caller entered digits, or a visitor to capture."""

    tenant: str
    entry_id: str
    call_id: str
    received_at: float
    route: bool = True
    capture_number: str | None = None
    reason: str = "appeared"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def call_view(call: CallAggregate, call_id: str, at: datetime, visitor: Visitor | None) -> CallView:
    leg = next((leg for leg in call.legs if leg.call_id == call_id), None)
    return CallView(
        entry_id=call.entry_id,
        call_id=call_id,
        caller_number=call.caller.number,
        caller_e164=call.caller.e164,
        line=call.line_number,
        location=leg.location if leg else None,
        at=at,
        acd_group=leg.acd_group if leg else None,
        dtmf=tuple(DtmfEntry(d.digits, d.location) for d in call.dtmf if d.call_id == call_id),
        tracking_number=call.call_tracking.number if call.call_tracking else None,
        tracking_type=call.call_tracking.type if call.call_tracking else None,
        visitor=visitor or call.visitor,
    )


def leg_is_routable(call: CallAggregate | None, call_id: str) -> bool:
    """The leg is still waiting in the IVR or a queue (not disconnected, not answered)."""
    if call is None:
        return False
    leg = next((leg for leg in call.legs if leg.call_id == call_id), None)
    return (
        leg is not None
        and leg.state not in ("Disconnected", "Connected")
        and (leg.location or "") in ROUTABLE_LOCATIONS
    )


class Router:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self._late: list[Future[CrmFacts]] = []

    # -- a leg appeared / digits were entered ------------------------------------------------------
    def handle(self, trigger: Trigger) -> RouteRecord:
        from mango_bridge.store.routes import RouteRecord

        deps, started = self.deps, self.deps.clock()
        record = RouteRecord(
            entry_id=trigger.entry_id, call_id=trigger.call_id, received_at=trigger.received_at
        )
        settings = deps.settings(trigger.tenant)
        if settings is None:
            record.status, record.reason = "not_routed", "unknown tenant"
            return record
        visitor_future = self._start_capture(trigger, settings)
        # The independent reads go out together: each is a round trip, and the greeting is short.
        existing_future = (
            deps.pool.submit(deps.routes.get, trigger.tenant, trigger.entry_id) if trigger.route else None
        )
        presence_future = deps.pool.submit(self._presence, trigger.tenant) if trigger.route else None
        call = deps.calls.get(trigger.tenant, trigger.entry_id)
        existing = existing_future.result() if existing_future else None
        if existing is not None and existing.status not in ("deciding", "not_routed"):
            self._finish_capture(visitor_future)
            return existing  # routed (or being routed) already: never twice
        visitor = self._finish_capture(visitor_future)
        if not trigger.route or call is None:
            record.status = "not_routed"
            record.reason = "visitor captured" if visitor else "nothing to route"
            return record
        routing = settings.routing
        if not is_enabled(routing) or not applies_to_line(routing, call.line_number):
            record.status, record.reason = "not_routed", "routing is off for this line"
            return record
        if not leg_is_routable(call, trigger.call_id):
            record.status, record.reason = "left_ivr", "the leg is no longer in the IVR or a queue"
            return self._keep(trigger.tenant, record, existing)

        zone = ZoneInfo(settings.timezone)
        view = call_view(
            call, trigger.call_id, datetime.fromtimestamp(trigger.received_at, UTC).astimezone(zone), visitor
        )
        crm = self._crm(trigger, settings, view) if uses_crm(routing) else CrmView("not_consulted")
        presence = presence_future.result() if presence_future else Presence()
        decision = decide(routing, settings.employees, RoutingInputs(view, crm, presence))
        now = deps.clock()
        record.decision = decision
        record.inputs = self._inputs(view, crm, presence)
        record.timings_ms.update(
            {"decided_after_received": _ms(now - trigger.received_at), "deciding": _ms(now - started)}
        )
        record.history = [*(existing.history if existing else []), f"{trigger.reason}: {decision.reason}"]
        if decision.outcome != "route":
            record.status, record.reason = "not_routed", decision.reason
            return self._keep(trigger.tenant, record, existing)
        record.status, record.target = "sent", decision.target
        if not deps.routes.claim(trigger.tenant, record):
            return deps.routes.get(trigger.tenant, trigger.entry_id) or record
        return self._send(trigger.tenant, record, decision.target or "", decision)

    # -- the outcome Mango reports later -----------------------------------------------------------
    def result(self, tenant: str, command_id: str, code: int | None) -> RouteRecord | None:
        deps = self.deps
        entry_id = None
        for _ in range(5):  # the link is written while the command is in flight: Mango may answer first
            entry_id = deps.routes.entry_for_command(tenant, command_id)
            if entry_id:
                break
            deps.sleep(0.1)
        record = deps.routes.get(tenant, entry_id) if entry_id else None
        if record is None or record.command_id != command_id:
            return record
        record.result = code
        if code == SUCCESS or (code is not None and 1000 <= code < 2000):
            record.status, record.reason = "routed", f"Mango routed the call to {record.target}"
        elif code == LEG_GONE:
            record.status, record.reason = "left_ivr", "Mango: the call had already left the IVR (4101)"
        else:
            record.status, record.reason = "failed", f"Mango refused the route (result {code})"
            record.history.append(record.reason)
            fallback = self._fallback(tenant, record)
            if fallback:
                return self._send(tenant, record, fallback, record.decision, is_fallback=True)
        record.history.append(record.reason)
        deps.routes.save(tenant, record)
        return record

    # -- pieces ------------------------------------------------------------------------------------
    def _keep(self, tenant: str, record: RouteRecord, existing: RouteRecord | None) -> RouteRecord:
        self.deps.routes.save_unsent(tenant, record)
        return record

    def _start_capture(self, trigger: Trigger, settings: TenantSettings) -> Future[Visitor | None] | None:
        capture = self.deps.capture
        if capture is None or not trigger.capture_number or not settings.call_tracking:
            return None
        return self.deps.pool.submit(capture, trigger.tenant, trigger.entry_id, trigger.capture_number)

    def _finish_capture(self, future: Future[Visitor | None] | None) -> Visitor | None:
        if future is None:
            return None
        try:
            return future.result(timeout=self.deps.budget.crm_lookup)
        except Exception:  # a visitor we could not fetch never holds the caller
            return None

    def _presence(self, tenant: str) -> Presence:
        try:
            return self.deps.presence.presence(tenant)
        except Exception:
            return Presence()

    def _crm(self, trigger: Trigger, settings: TenantSettings, view: CallView) -> CrmView:
        deps, phone = self.deps, view.caller_e164
        if not phone:
            return CrmView("not_found", CrmFacts(phone=None), "none", "the caller's number is hidden")
        try:
            cached = deps.cache.get(trigger.tenant, phone)
        except Exception:
            cached = None
        if cached is not None:
            return CrmView("found" if cached.found else "not_found", cached, "cache")
        remaining = trigger.received_at + deps.budget.deadline - deps.clock() - 0.3
        limit = max(0.0, min(deps.budget.crm_lookup, remaining))
        try:
            adapter = deps.adapter(trigger.tenant, settings)
        except Exception as problem:
            return CrmView("unavailable", None, "none", f"no CRM adapter: {problem}")
        future = deps.pool.submit(adapter.facts, phone)
        try:
            facts = future.result(timeout=limit)
        except FutureTimeout:
            future.add_done_callback(lambda done: self._fill_cache(trigger.tenant, done))
            self._late.append(future)
            return CrmView("unavailable", None, "crm", f"the CRM did not answer within {limit:.1f} s")
        except Exception as problem:
            return CrmView("unavailable", None, "crm", f"the CRM lookup failed: {type(problem).__name__}")
        self._fill_cache(trigger.tenant, future)
        return CrmView("found" if facts.found else "not_found", facts, "crm")

    def _fill_cache(self, tenant: str, done: Future[CrmFacts]) -> None:
        with contextlib.suppress(Exception):  # a failed fill only means the next call looks it up again
            self.deps.cache.put(tenant, done.result(timeout=0))

    def wait_for_background(self) -> None:
        """Let late CRM lookups fill the cache before the container freezes (bounded)."""
        until = self.deps.clock() + self.deps.budget.background_fill
        late, self._late = self._late, []
        for future in late:
            try:
                future.result(timeout=max(0.0, until - self.deps.clock()))
            except Exception:
                continue

    @staticmethod
    def _inputs(view: CallView, crm: CrmView, presence: Presence) -> dict[str, Any]:
        client = crm.client
        return {
            "line": view.line,
            "location": view.location,
            "dtmf": [{"digits": d.digits, "location": d.location} for d in view.dtmf],
            "local_time": view.at.strftime("%Y-%m-%d %H:%M %Z"),
            "crm": {
                "status": crm.status,
                "source": crm.source,
                "detail": crm.detail,
                "client": None
                if client is None
                else {
                    "kind": client.kind,
                    "id": client.id,
                    "name": client.name,
                    "responsible": list(client.responsible_user_ids),
                    "tags": list(client.tags),
                    "open_deals": len(client.open_deal_ids),
                    "open_cases": len(client.open_case_ids),
                },
            },
            "talking": sorted(presence.talking),
            "visitor": view.visitor.model_dump(exclude_none=True) if view.visitor else None,
        }

    def _fallback(self, tenant: str, record: RouteRecord) -> str | None:
        decision = record.decision
        if decision is None or record.fallback_tried or decision.used_fallback or not decision.rule:
            return None
        settings = self.deps.settings(tenant)
        if settings is None:
            return None
        rule = next((r for r in settings.routing.rules if r.name == decision.rule), None)
        fallback = rule.action.fallback if rule else None
        if not fallback or fallback == record.target:
            return None
        if not leg_is_routable(self.deps.calls.get(tenant, record.entry_id), record.call_id):
            return None
        return fallback

    def _send(
        self,
        tenant: str,
        record: RouteRecord,
        target: str,
        decision: RouteDecision | None,
        *,
        is_fallback: bool = False,
    ) -> RouteRecord:
        deps = self.deps
        received = record.received_at or deps.clock()
        record.target, record.fallback_tried = target, record.fallback_tried or is_fallback
        for attempt in range(2):
            remaining = received + deps.budget.deadline - deps.clock()
            wait = deps.limiter.reserve(tenant, max_wait=max(0.0, remaining - 0.2))
            if wait is None:
                return self._drop(tenant, record, "Mango's limit of one route per 2 s would make it too late")
            if wait or is_fallback or attempt:
                deps.sleep(wait)  # time passed since the leg was read: read it again before moving it
                call = deps.calls.get(tenant, record.entry_id)
            else:
                call = None
            if call is not None and not leg_is_routable(call, record.call_id):
                record.status, record.reason = (
                    "left_ivr",
                    "the caller left the IVR before the command went out",
                )
                record.history.append(record.reason)
                deps.routes.save(tenant, record)
                return record
            mango = deps.mango(tenant)
            if mango is None:
                return self._drop(tenant, record, "the tenant's Mango API key or salt is missing")
            from mango_bridge.mango.client import new_command_id

            command_id = new_command_id("route")
            linked = deps.pool.submit(deps.routes.link_command, tenant, command_id, record.entry_id)
            record.command_id = command_id
            try:
                mango.route(
                    record.call_id,
                    target,
                    display_name=decision.display_name if decision and not is_fallback else None,
                    command_id=command_id,
                )
            except MangoUnavailable as problem:
                record.history.append(f"commands/route to {target}: {problem}")
                if attempt == 0 and received + deps.budget.deadline - deps.clock() > 0.5:
                    continue
                return self._drop(tenant, record, f"Mango did not take the command: {problem}")
            except MangoFailed as problem:
                gone = problem.code == LEG_GONE
                record.status = "left_ivr" if gone else "failed"
                record.result = problem.code
                record.reason = (
                    "Mango: the call had already left the IVR (4101)" if gone else f"Mango refused: {problem}"
                )
                record.history.append(record.reason)
                deps.routes.save(tenant, record)
                return record
            except (MangoRejected, MangoError) as problem:
                return self._drop(tenant, record, f"Mango rejected the command: {problem}", status="failed")
            finally:
                linked.result()  # `result/route` finds its call through this link
            sent = deps.clock()
            record.status = "sent"
            record.reason = f"commands/route sent to {target}" + (" (fallback)" if is_fallback else "")
            record.history.append(record.reason)
            record.timings_ms["sent_after_received"] = _ms(sent - received)
            deps.routes.save(tenant, record)
            return record
        return self._drop(tenant, record, "Mango did not take the command")

    def _drop(self, tenant: str, record: RouteRecord, reason: str, *, status: str = "dropped") -> RouteRecord:
        record.status = status  # type: ignore[assignment]
        record.reason = reason + ": Mango's own scheme handles the call"
        record.history.append(record.reason)
        self.deps.routes.save(tenant, record)
        return record
