"""The 01:00 Moscow-time missing-call sync (EventBridge Scheduler), or one tenant's day on demand.

Scheduled event: every tenant with «Загружать отсутствующие звонки» on, previous full Moscow day.
On demand: `{"tenant": "...", "day": "YYYY-MM-DD"}`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from mango_bridge.reconcile.job import Reconciler
from mango_bridge.reconcile.stats import previous_day
from mango_bridge.store.tenants import TenantStore

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    day = date.fromisoformat(event["day"]) if event.get("day") else previous_day(datetime.now(UTC))
    store = TenantStore()
    if event.get("tenant"):
        tenants = [event["tenant"]]
    else:
        tenants = []
        for tenant in store.list():
            record = store.get(tenant)
            if record is not None and record.settings.missing_call_sync:
                tenants.append(tenant)
    reconciler = Reconciler()
    results = {}
    for tenant in tenants:
        report = reconciler.run(tenant, day, dry_run=bool(event.get("dry_run")))
        metrics.add_metric(name="CallsBackfilled", unit=MetricUnit.Count, value=len(report.backfilled))
        metrics.add_metric(name="CallsRestored", unit=MetricUnit.Count, value=len(report.restored))
        logger.info(
            "reconciled",
            extra={
                "tenant": tenant,
                "day": day.isoformat(),
                "found": report.found,
                "synced": report.already_synced,
                "backfilled": len(report.backfilled),
                "restored": len(report.restored),
                "failed": len(report.failed),
                "error": report.error,
            },
        )
        results[tenant] = {
            "found": report.found,
            "backfilled": len(report.backfilled),
            "failed": len(report.failed),
            "error": report.error,
        }
    return {"day": day.isoformat(), "tenants": results}
