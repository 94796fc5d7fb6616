"""Accept one Mango notification: authenticate, store once, fold into its call.

Order matters: nothing is written before the signature checks out, and the raw `json` is stored
before anything is derived from it, so a crash after the first write loses nothing (the next
delivery, duplicate or not, re-derives the aggregate).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mango_bridge.calls.assembly import assemble
from mango_bridge.calls.model import CallAggregate
from mango_bridge.mango.notifications import (
    CallEvent,
    CommandResult,
    DtmfEvent,
    MalformedNotification,
    Notification,
    UnknownNotification,
    compact_json,
    entry_id_of,
    normalise_suffix,
    parse_notification,
)
from mango_bridge.mango.signature import verify
from mango_bridge.store.calls import CallStore, LooseEventStore, call_pk
from mango_bridge.store.raw_bodies import RawBodyStore, RawRef, too_big_for_an_item
from mango_bridge.store.table import is_item_too_large

if TYPE_CHECKING:
    from mango_bridge.settings.model import Routing
    from mango_bridge.store.routes import PresenceStore

PING_SUFFIXES = {"ping", "events/ping"}
ROUTE_FUNCTION_ENV = "ROUTE_FUNCTION_NAME"
ROUTABLE_LOCATIONS = frozenset({"ivr", "queue"})
STATUS_SUFFIX = "events/user/status_changed"
CACHED_PARSE_MAX_CHARS = 16_384
logger = logging.getLogger(__name__)


@lru_cache(maxsize=8192)
def _parse_stored(suffix: str, json_text: str) -> Notification:
    """A warm container refolds the same call many times: parse each stored notification once."""
    return parse_notification(suffix, json_text)


@dataclass(frozen=True)
class TenantAuth:
    """What ingest needs of a tenant on every notification, cached per warm container."""

    api_key: str
    api_salt: str
    routing: Routing | None = None
    call_tracking: bool = False


@dataclass(frozen=True)
class IngestOutcome:
    status: int
    body: dict[str, Any]
    notification: Notification | None = None
    call: CallAggregate | None = None
    stored: bool = False


class TenantAuthCache:
    """Tenant key and salt per warm container: a minute for known tenants, seconds for unknown ones."""

    def __init__(
        self,
        load: Callable[[str], TenantAuth | None],
        ttl: float = 60.0,
        miss_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, TenantAuth | None]] = {}

    def get(self, tenant: str) -> TenantAuth | None:
        now = self._clock()
        cached = self._entries.get(tenant)
        if cached and cached[0] > now:
            return cached[1]
        auth = self._load(tenant)
        self._entries[tenant] = (now + (self._ttl if auth else self._miss_ttl), auth)
        return auth


FollowUp = Callable[[str, Notification, CallAggregate | None], None]


@dataclass
class Ingestor:
    calls: CallStore
    loose: LooseEventStore
    tenants: TenantAuthCache
    follow_ups: list[FollowUp] = field(default_factory=list)
    raw: RawBodyStore | None = None

    def handle(self, tenant: str, raw_suffix: str, form: dict[str, str]) -> IngestOutcome:
        suffix = normalise_suffix(raw_suffix)
        auth = self.tenants.get(tenant)
        if auth is None:
            return IngestOutcome(403, {"error": "forbidden", "message": "unknown tenant"})
        json_text = form.get("json")
        if json_text is None or json_text == "":
            # «Проверить подключение» posts without a body; answer it so the check passes.
            return IngestOutcome(200, {"ok": True, "message": "no json field: connection check acknowledged"})
        api_key, signature = form.get("vpbx_api_key", ""), form.get("sign", "")
        if not api_key or not signature:
            return IngestOutcome(403, {"error": "forbidden", "message": "vpbx_api_key and sign are required"})
        if api_key != auth.api_key or not verify(auth.api_key, json_text, auth.api_salt, signature):
            return IngestOutcome(403, {"error": "forbidden", "message": "wrong vpbx_api_key or sign"})
        if suffix in PING_SUFFIXES:
            return IngestOutcome(200, {"ok": True})

        oversized = too_big_for_an_item(json_text)
        try:
            notification = parse_notification(suffix, json_text)
        except MalformedNotification as problem:
            digest = hashlib.sha256(json_text.encode()).hexdigest()[:16]
            raw = self._keep_raw(tenant, suffix, json_text, "rejected") if oversized else None
            self.loose.put_rejected(tenant, suffix, json_text, str(problem), digest, raw)
            return IngestOutcome(400, {"error": "malformed", "message": str(problem)})

        entry_id = entry_id_of(notification)
        stored_json, raw = json_text, None
        if oversized:
            # Over DynamoDB's item limit: the exact body goes to S3, the item keeps what the fold reads.
            raw = self._keep_raw(tenant, suffix, json_text, "notifications")
            stored_json = compact_json(notification)
        stored = self.calls.put_event(
            self._pk(tenant, suffix, notification),
            notification.kind,
            notification.natural_key,
            suffix,
            stored_json,
            raw,
        )
        call = self._refold(tenant, entry_id) if entry_id else None
        for follow_up in self.follow_ups:
            follow_up(tenant, notification, call)
        body: dict[str, Any] = {"ok": True, "duplicate": not stored}
        if entry_id:
            body["entry_id"] = entry_id
        return IngestOutcome(200, body, notification, call, stored)

    def _keep_raw(self, tenant: str, suffix: str, json_text: str, kind: str) -> RawRef | None:
        """The exact body in S3. Without a bucket (a misconfigured deployment) the compact view is all
        that is kept: logged as an error rather than answered with a 5xx Mango would retry forever."""
        if self.raw is None or not self.raw.enabled:
            logger.error(
                "notification of %d bytes for tenant %s over the item limit and no raw-body bucket: "
                "only its compact view is kept",
                len(json_text.encode()),
                tenant,
            )
            return None
        return self.raw.put(tenant, suffix, json_text, kind)

    @staticmethod
    def _pk(tenant: str, suffix: str, notification: Notification) -> str:
        entry_id = entry_id_of(notification)
        if entry_id:
            return call_pk(tenant, entry_id)
        if isinstance(notification, CommandResult) and notification.command_id:
            return f"CMD#{tenant}#{notification.command_id}"
        if isinstance(notification, UnknownNotification):
            return f"MISC#{tenant}#{suffix}"
        return f"MISC#{tenant}#{notification.kind}"

    def _refold(self, tenant: str, entry_id: str) -> CallAggregate | None:
        return refold(self.calls, tenant, entry_id)


class RoutingTrigger:
    """An ingest follow-up: hands routing and live call tracking to the route function, asynchronously.

    Triggers: a leg `Appeared` in the IVR or a queue on a line with routing on, the first notification
    of any leg carrying a dynamic call-tracking number to capture (IVR, queue or an employee rung
    directly), the caller's DTMF on such a leg, and Mango's `result/route`.
    Employees' connected legs and contact-centre statuses are kept for the «busy → fallback» choice.
    A failure here is logged and swallowed: Mango's webhook is answered whatever routing does.
    """

    def __init__(
        self,
        tenants: TenantAuthCache,
        invoke: Callable[[dict[str, Any]], None],
        presence: Callable[[], PresenceStore] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tenants = tenants
        self._invoke = invoke
        self._presence = presence
        self._clock = clock

    def __call__(self, tenant: str, notification: Notification, call: CallAggregate | None) -> None:
        try:
            self._follow(tenant, notification, call)
        except Exception:
            logger.exception("routing follow-up failed for tenant %s", tenant)

    def _follow(self, tenant: str, notification: Notification, call: CallAggregate | None) -> None:
        auth = self._tenants.get(tenant)
        if auth is None:
            return
        routing = auth.routing
        routing_on = routing is not None and _routing_on(routing)
        if isinstance(notification, CallEvent):
            self._call_event(tenant, notification, call, auth, routing_on)
        elif isinstance(notification, DtmfEvent) and routing_on and routing is not None:
            if _line_applies(routing, notification.line_number or (call.line_number if call else None)):
                self._send("dtmf", tenant, notification.entry_id, notification.call_id, route=True)
        elif (
            isinstance(notification, CommandResult)
            and notification.command == "route"
            and (notification.command_id or "").startswith("mcb-route-")
        ):
            self._invoke(
                {
                    "kind": "result",
                    "tenant": tenant,
                    "command_id": notification.command_id,
                    "result": notification.result,
                }
            )
        elif isinstance(notification, UnknownNotification) and notification.suffix == STATUS_SUFFIX:
            self._status(tenant, notification, routing_on)

    def _call_event(
        self, tenant: str, event: CallEvent, call: CallAggregate | None, auth: TenantAuth, routing_on: bool
    ) -> None:
        location = (event.location or "").lower()
        route = (
            event.call_state == "Appeared"
            and location in ROUTABLE_LOCATIONS
            and routing_on
            and auth.routing is not None
            and _line_applies(auth.routing, event.to.line_number)
        )
        capture = _visitor_to_capture(event, call) if auth.call_tracking else None
        if route or capture:
            self._send("appeared", tenant, event.entry_id, event.call_id, route=route, capture=capture)
        if location == "abonent" and routing_on and self._presence is not None:
            extension = event.to.extension or event.from_.extension
            if extension and event.call_state in ("Connected", "Disconnected"):
                self._presence().talking(tenant, extension, event.call_id, on=event.call_state == "Connected")

    def _status(self, tenant: str, notification: UnknownNotification, routing_on: bool) -> None:
        data = notification.data if isinstance(notification.data, dict) else {}
        extension = data.get("extension") or data.get("user_extension")
        status = data.get("status_name") or data.get("status")
        if routing_on and self._presence is not None and extension and status is not None:
            self._presence().set_status(tenant, str(extension), str(status))

    def _send(
        self, kind: str, tenant: str, entry_id: str, call_id: str, *, route: bool, capture: str | None = None
    ) -> None:
        self._invoke(
            {
                "kind": kind,
                "tenant": tenant,
                "entry_id": entry_id,
                "call_id": call_id,
                "received_at": self._clock(),
                "route": route,
                "capture_number": capture,
            }
        )


def _visitor_to_capture(event: CallEvent, call: CallAggregate | None) -> str | None:
    """The dynamic number whose visitor to fetch now, at the first notification of a leg carrying
    `dct` type 1 — wherever the leg is: a dynamic number may ring an employee directly, with no IVR
    (`location` "abonent", the spec's own call-tracking example). A leg's first notification is its
    `Appeared`, or its seq 1 when Mango starts it in another state («Начальное состояние вызова может
    быть любым», p.9). Capturing is first-wins downstream, so a second leg asking again costs a read."""
    dct = event.dct
    if dct is None or dct.type != 1 or not dct.number:
        return None
    if call is not None and call.visitor is not None:
        return None
    if event.call_state != "Appeared" and event.seq > 1:
        return None
    return dct.number


def _routing_on(routing: Routing) -> bool:
    return routing.route_to_responsible or any(rule.enabled for rule in routing.rules)


def _line_applies(routing: Routing, line: str | None) -> bool:
    from mango_bridge.routing.decision import applies_to_line

    return applies_to_line(routing, line)


class LambdaInvoker:
    """`InvocationType=Event`: Lambda queues the call and answers at once (202)."""

    def __init__(
        self, function_name: str | None = None, lam: Any | None = None, alias: str | None = None
    ) -> None:
        self.function_name = function_name or os.environ.get(ROUTE_FUNCTION_ENV, "")
        self.alias = alias if alias is not None else os.environ.get("ROUTE_FUNCTION_ALIAS", "")
        self._lambda = lam

    @property
    def enabled(self) -> bool:
        return bool(self.function_name)

    def __call__(self, payload: dict[str, Any]) -> None:
        if not self.function_name:
            return
        if self._lambda is None:
            from mango_bridge.store.table import client

            self._lambda = client("lambda")
        self._lambda.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
            **({"Qualifier": self.alias} if self.alias else {}),
        )


def refold(calls: CallStore, tenant: str, entry_id: str) -> CallAggregate | None:
    """Recompute the aggregate when the stored one misses any stored event (None when it is current)."""
    snapshot = calls.snapshot(tenant, entry_id)
    if snapshot.aggregate_event_count >= len(snapshot.events):
        return None
    parsed: list[Notification] = []
    for event in snapshot.events:
        try:
            text = event.json_text
            # The cache holds ordinary notifications; a big one (up to the inline limit) is parsed
            # each time rather than pinning hundreds of KB per entry in a warm container.
            small = len(text) <= CACHED_PARSE_MAX_CHARS
            parsed.append(
                _parse_stored(event.suffix, text) if small else parse_notification(event.suffix, text)
            )
        except MalformedNotification:
            continue  # stored by an older, more lenient parser: kept as evidence, left out of the fold
    call = assemble(entry_id, parsed)
    try:
        calls.put_aggregate(tenant, call)
    except Exception as error:
        if not is_item_too_large(error):
            raise
        # Every notification is stored; only the derived view could not be. Mango is answered 200 and
        # the aggregate is rebuilt from the stored events when a smaller view becomes possible.
        logger.error("aggregate of %s/%s is over DynamoDB's item limit: not stored", tenant, entry_id)
    return call
