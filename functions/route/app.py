"""Smart routing (F24–F26), invoked asynchronously by ingest so Mango's webhook is answered at once.

Events: `{"kind": "appeared" | "dtmf", "tenant", "entry_id", "call_id", "received_at", "route",
"capture_number"}` for a leg waiting in the IVR or a queue, and `{"kind": "result", "tenant",
"command_id", "result"}` for Mango's `result/route`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger

from mango_bridge.routing.service import Budget, Dependencies, Router, Trigger

logger = Logger()
_router: Router | None = None
_settings_cache: dict[str, tuple[float, Any]] = {}
_mango_cache: dict[str, tuple[float, Any]] = {}
SETTINGS_TTL = 30.0


def _settings(tenant: str) -> Any:
    """Tenant settings, kept for half a minute per warm container: the hot path reads no table for them."""
    from mango_bridge.store.tenants import TenantStore

    cached = _settings_cache.get(tenant)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    record = TenantStore().get(tenant)
    settings = record.settings if record else None
    _settings_cache[tenant] = (time.monotonic() + SETTINGS_TTL, settings)
    return settings


def _mango(tenant: str) -> Any:
    """The tenant's Mango client with a short timeout: a slow command must not outlast the greeting."""
    import httpx

    from mango_bridge.mango.client import MangoClient
    from mango_bridge.store.tenants import TenantStore

    cached = _mango_cache.get(tenant)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    store = TenantStore()
    record = store.get(tenant)
    salt = store.get_salt(tenant) if record else None
    client = None
    if record is not None and salt:
        mango = record.settings.mango
        timeout = float(os.environ.get("MANGO_ROUTE_TIMEOUT_SECONDS", "1.5"))
        client = MangoClient(
            mango.api_base_url, mango.api_key, salt, http=httpx.Client(timeout=timeout, trust_env=False)
        )
    _mango_cache[tenant] = (time.monotonic() + 60.0, client)
    return client


def _adapter(tenant: str, settings: Any) -> Any:
    from mango_bridge.crm.registry import adapter_for

    return adapter_for(tenant, settings)


def _capture() -> Any:
    """Call tracking (F23) is captured while the call is live; older layers may not have it yet."""
    try:
        from mango_bridge.call_tracking import capture
    except ImportError:
        return None
    return capture


def _router_instance() -> Router:
    global _router
    if _router is None:
        from mango_bridge.store.calls import CallStore
        from mango_bridge.store.phone_cache import PhoneCache
        from mango_bridge.store.routes import PresenceStore, RouteRateLimit, RouteStore

        _router = Router(
            Dependencies(
                settings=_settings,
                calls=CallStore(),
                routes=RouteStore(),
                limiter=RouteRateLimit(),
                presence=PresenceStore(),
                cache=PhoneCache(),
                mango=_mango,
                adapter=_adapter,
                capture=_capture(),
                budget=Budget(
                    deadline=float(os.environ.get("ROUTE_DEADLINE_SECONDS", "3.0")),
                    crm_lookup=float(os.environ.get("CRM_LOOKUP_TIMEOUT_SECONDS", "1.2")),
                ),
            )
        )
    return _router


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    router = _router_instance()
    tenant = str(event.get("tenant", ""))
    if event.get("kind") == "result":
        code = event.get("result")
        record = router.result(
            tenant, str(event.get("command_id", "")), int(code) if code is not None else None
        )
        if record is None:
            return {"status": "unknown_command"}
    else:
        record = router.handle(
            Trigger(
                tenant=tenant,
                entry_id=str(event["entry_id"]),
                call_id=str(event["call_id"]),
                received_at=float(event.get("received_at") or time.time()),
                route=bool(event.get("route", True)),
                capture_number=event.get("capture_number"),
                reason=str(event.get("kind", "appeared")),
            )
        )
        router.wait_for_background()
    logger.info(
        "routing",
        extra={
            "tenant": tenant,
            "entry_id": record.entry_id,
            "status": record.status,
            "target": record.target,
            "reason": record.reason,
            "timings_ms": record.timings_ms,
        },
    )
    return {"status": record.status, "target": record.target, "reason": record.reason}
