"""Mango webhook receiver: `POST /mango/{tenant}/{suffix}` → store once, fold into the call, 200 fast."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mango_bridge.ingest import (
    FollowUp,
    Ingestor,
    IngestOutcome,
    LambdaInvoker,
    RoutingTrigger,
    TenantAuth,
    TenantAuthCache,
)
from mango_bridge.mango.webhook import MalformedForm, parse_form
from mango_bridge.store.calls import CallStore, LooseEventStore
from mango_bridge.store.raw_bodies import RawBodyStore
from mango_bridge.store.tenants import TenantStore
from mango_bridge.workflows.starter import PostCallStarter

if TYPE_CHECKING:
    from mango_bridge.store.routes import PresenceStore

logger = Logger()
_ingestor: Ingestor | None = None


def _load_auth(tenant: str) -> TenantAuth | None:
    store = TenantStore()
    record = store.get(tenant)
    if record is None:
        return None
    salt = store.get_salt(tenant)
    if not salt:
        return None
    settings = record.settings
    return TenantAuth(settings.mango.api_key, salt, settings.routing, settings.call_tracking)


def _presence() -> PresenceStore:
    from mango_bridge.store.routes import PresenceStore

    return PresenceStore()


def _ingestor_instance() -> Ingestor:
    global _ingestor
    if _ingestor is None:
        starter = PostCallStarter()
        tenants = TenantAuthCache(_load_auth)
        follow_ups: list[FollowUp] = [starter] if starter.enabled else []
        invoker = LambdaInvoker()
        if invoker.enabled:
            follow_ups.append(RoutingTrigger(tenants, invoker, presence=_presence))
        _ingestor = Ingestor(
            CallStore(), LooseEventStore(), tenants, follow_ups=follow_ups, raw=RawBodyStore()
        )
    return _ingestor


def _response(outcome: IngestOutcome) -> dict[str, Any]:
    return {
        "statusCode": outcome.status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(outcome.body, ensure_ascii=False),
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = event.get("pathParameters") or {}
    tenant, suffix = params.get("tenant", ""), params.get("proxy", "")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        form = parse_form(body, headers.get("content-type"))
    except MalformedForm as problem:
        return _response(IngestOutcome(400, {"error": "malformed", "message": str(problem)}))
    outcome = _ingestor_instance().handle(tenant, suffix, form)
    # Every webhook already has its access-log line and its stored item: an INFO line per accepted
    # notification would be the largest log cost of a deployment. Refusals are logged at INFO.
    log = logger.debug if outcome.status == 200 else logger.info
    log(
        "notification",
        extra={
            "tenant": tenant,
            "suffix": suffix,
            "status": outcome.status,
            "duplicate": outcome.status == 200 and not outcome.stored,
            "detail": outcome.body.get("message"),
        },
    )
    return _response(outcome)
