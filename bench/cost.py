"""AWS cost per 1,000 calls, measured on the demo day through the whole local stack.

Counts what the deployed stack would be billed for: Step Functions state transitions (from each
execution's history: states entered plus retried task attempts), Lambda invocations and their
duration (ingest per notification, post-call per step), DynamoDB reads and writes (every request the
handlers make, powertools' idempotency records included) and HTTP API requests.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import boto3

# List prices, us-east-1, as published on the AWS pricing pages (checked 2026-11):
SFN_STANDARD_PER_TRANSITION = 0.025 / 1000  # aws.amazon.com/step-functions/pricing
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334  # aws.amazon.com/lambda/pricing (Arm)
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
DYNAMODB_PER_WRITE_REQUEST_UNIT = 0.625 / 1_000_000  # aws.amazon.com/dynamodb/pricing/on-demand
DYNAMODB_PER_READ_REQUEST_UNIT = 0.125 / 1_000_000
HTTP_API_PER_REQUEST = 1.00 / 1_000_000  # aws.amazon.com/api-gateway/pricing (HTTP APIs)
LAMBDA_MEMORY_GB = 0.5
BUDGET_PER_1000_CALLS = 0.10  # DESIGN §8

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "BatchGetItem", "Scan"}


def _transitions(sfn: Any, execution_arn: str) -> int:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    scheduled = sum(1 for e in events if e["type"] == "TaskScheduled")
    task_states = sum(1 for e in events if e["type"] == "TaskStateEntered")
    return entered + max(0, scheduled - task_states)


ALL_FEATURES: dict[str, Any] = {
    "recordings": True,
    "quality_score": True,
    "call_tracking": True,
    "speech_analytics": {
        "topics_enabled": True,
        "topics": ["Сотрудник поздоровался", "Клиент отказался от покупки"],
        "texts_enabled": True,
    },
}
"""Every after-call enrichment on (F20–F23): the configuration the budget is stated for."""

SWEEPS_PER_DAY = 24 * 12
"""The after-call sweep runs every 5 minutes whatever the traffic: a fixed cost per deployment."""


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _sweep_a_day(stack: Any, clock: _Clock) -> dict[str, int]:
    """Run the after-call sweep at every time a job falls due over the next 25 hours (the most often
    it could matter), with Mango answering transcripts at 10 min and topics at 30 min."""
    from mango_bridge.crm.registry import adapter_for
    from mango_bridge.enrichment.sweep import Sweeper
    from mango_bridge.store.enrichment import EnrichmentJobs

    jobs = EnrichmentJobs()
    sweeper = Sweeper(adapters=adapter_for, jobs=jobs, clock=clock)
    until = clock.now + 25 * 3600
    totals: Counter[str] = Counter()
    while waiting := jobs.due(until):
        clock.now = max(clock.now, min(job.due for job in waiting))
        report = sweeper.run()
        totals.update(
            {
                "sweeps": 1,
                "polls": report.due,
                "written": report.written,
                "mango_requests": report.mango_requests,
            }
        )
    return dict(totals)


def run(all_features: bool = False) -> dict[str, Any]:
    from sandbox.mango import player
    from sandbox.stack.cli import demo_base_time
    from sandbox.stack.stack import LocalStack, Ports

    stack = LocalStack(ports=Ports.free(), state_file=None, time_scale=0.002).start()
    try:
        stack.issue_admin_token()
        stack.register_tenant()
        clock = _Clock()
        if all_features:
            with stack.admin() as admin:
                admin.patch(f"/tenants/{stack.tenant_id}/settings", json=ALL_FEATURES).raise_for_status()
            stack.mango.after_call.clock = clock
            stack.mango.after_call.configure(
                {
                    "defaults": {"transcript_after_seconds": 600, "topics_after_seconds": 1800},
                    "varied_ratings": True,
                    "rating_after_seconds": 120,
                }
            )
        from mango_bridge.store.table import client

        ddb_ops: Counter[str] = Counter()
        client("dynamodb").meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: ddb_ops.update([model.name])
        )
        invocations: Counter[str] = Counter()
        seconds: Counter[str] = Counter()
        original = stack.runtime.invoke

        def counted(logical_id: str, event: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return original(logical_id, event)
            finally:
                invocations[logical_id] += 1
                seconds[logical_id] += time.perf_counter() - started

        stack.runtime.invoke = counted  # type: ignore[method-assign]
        rendered = player.render(player.load_scenario("demo-day"), base_time=demo_base_time(), seed=3)
        stack.mango.register_deliveries(rendered.deliveries)
        statuses = player.post(
            rendered.deliveries,
            to_url=stack.ingest_url(),
            api_key=stack.mango_api_key,
            api_salt=stack.mango_api_salt,
        )
        assert set(statuses) == {200}
        stack.stepfunctions.wait_idle(timeout=300)
        swept = _sweep_a_day(stack, clock) if all_features else {}
        sfn = boto3.client("stepfunctions", endpoint_url=stack.moto_url)
        executions = stack.stepfunctions.executions()
        transitions = sum(_transitions(sfn, e["executionArn"]) for e in executions)
        calls = len(rendered.entry_ids)
        notifications = len(rendered.deliveries)
        writes = sum(n for op, n in ddb_ops.items() if op in WRITES)
        reads = sum(n for op, n in ddb_ops.items() if op in READS)
        lambda_requests = sum(invocations.values()) + swept.get("sweeps", 0)
        lambda_seconds = sum(seconds.values())
        per_call = {
            "notifications": notifications / calls,
            "sfn_transitions": transitions / calls,
            "lambda_invocations": lambda_requests / calls,
            "lambda_seconds": lambda_seconds / calls,
            "ddb_writes": writes / calls,
            "ddb_reads": reads / calls,
        }
        cost = {
            "step_functions": per_call["sfn_transitions"] * SFN_STANDARD_PER_TRANSITION * 1000,
            "lambda": (
                per_call["lambda_invocations"] * LAMBDA_PER_REQUEST
                + per_call["lambda_seconds"] * LAMBDA_MEMORY_GB * LAMBDA_ARM_PER_GB_SECOND
            )
            * 1000,
            "dynamodb": (
                per_call["ddb_writes"] * DYNAMODB_PER_WRITE_REQUEST_UNIT
                + per_call["ddb_reads"] * DYNAMODB_PER_READ_REQUEST_UNIT
            )
            * 1000,
            "http_api": per_call["notifications"] * HTTP_API_PER_REQUEST * 1000,
        }
        cost["total"] = sum(cost.values())
        return {
            "features": "all after-call enrichments on" if all_features else "the demo tenant's settings",
            "calls": calls,
            "executions": len(executions),
            "after_call": swept,
            "sweep_usd_per_day": round(
                SWEEPS_PER_DAY * (LAMBDA_PER_REQUEST + 0.2 * LAMBDA_MEMORY_GB * LAMBDA_ARM_PER_GB_SECOND), 5
            ),
            "per_call": {k: round(v, 2) for k, v in per_call.items()},
            "usd_per_1000_calls": {k: round(v, 4) for k, v in cost.items()},
            "budget_usd_per_1000_calls": BUDGET_PER_1000_CALLS,
            "note": "Lambda seconds are wall time on this machine with local emulators, an upper bound",
        }
    finally:
        stack.stop()


if __name__ == "__main__":
    import json

    print(json.dumps({"baseline": run(), "all_features": run(all_features=True)}, indent=2))
