"""After-call sweep handler (EventBridge Scheduler, every 5 minutes): transcripts, topics and
ratings that Mango has learned since the call, written to the CRM (mango_bridge.enrichment.sweep)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from mango_bridge.crm.registry import adapter_for
from mango_bridge.enrichment.sweep import Sweeper
from mango_bridge.workflows.executor import IntentExecutor

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = Sweeper(adapters=adapter_for, executor=IntentExecutor(lambda_context=context)).run()
    metrics.add_metric(name="AfterCallWritten", unit=MetricUnit.Count, value=report.written)
    metrics.add_metric(name="AfterCallJobsDue", unit=MetricUnit.Count, value=report.due)
    failed = report.finished.get("failed", 0)
    if failed:
        metrics.add_metric(name="AfterCallFailed", unit=MetricUnit.Count, value=failed)
    logger.info("after-call sweep", extra=report.as_dict())
    return report.as_dict()
