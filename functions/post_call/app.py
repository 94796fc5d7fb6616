"""Post-call step handler for statemachines/post_call.asl.json: `process`, `finish` or `park` one call.

Errors are raised as-is: their class names (CrmUnavailable, CrmRateLimited, MangoUnavailable, …) are
what the state machine's Retry and Catch match on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from mango_bridge.crm.registry import adapter_for
from mango_bridge.recording_links import RecordingLinkFactory
from mango_bridge.workflows.executor import IntentExecutor
from mango_bridge.workflows.post_call import PostCall

logger = Logger()
metrics = Metrics()
_links = RecordingLinkFactory()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    tenant, entry_id, phase = event["tenant"], event["entry_id"], event.get("phase", "process")
    logger.append_keys(tenant=tenant, entry_id=entry_id, phase=phase)
    workflow = PostCall(
        adapters=adapter_for, recording_link=_links.link, executor=IntentExecutor(lambda_context=context)
    )
    if phase == "park":
        result = workflow.park(tenant, entry_id, event.get("error"))
        metrics.add_metric(name="CallsParked", unit=MetricUnit.Count, value=1)
        logger.error("call parked", extra={"error": (event.get("error") or {}).get("Error")})
        return result
    result = workflow.run(
        tenant,
        entry_id,
        final=phase == "finish",
        attempt=int(event.get("attempt") or 0),
        reason=str(event.get("reason") or "summary"),
    )
    metrics.add_metric(name="CrmIntentsExecuted", unit=MetricUnit.Count, value=len(result["executed"]))
    logger.info("post-call step", extra={"status": result["status"], "executed": len(result["executed"])})
    return result
