"""Events per second through the real ingest handler against DynamoDB Local, and what each costs.

Calls are Mango's consultative-transfer example (12 notifications each, recordings included) with
fresh entry ids, delivered in order and then once more as duplicates. Handler time is wall time of
the in-process handler call (DynamoDB Local round trips included); CPU is this thread's CPU time.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.parse
from types import SimpleNamespace
from typing import Any

from mango_bridge.mango.signature import sign
from sandbox.stack.stack import LocalStack, Ports
from tests.conftest import http_event, load_function
from tests.samples import CONSULTATIVE

CONTEXT = SimpleNamespace(
    function_name="ingest",
    memory_limit_in_mb=512,
    aws_request_id="bench",
    invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:ingest",
)


def _calls(count: int) -> list[tuple[str, str]]:
    deliveries = []
    for n in range(count):
        for suffix, json_text in CONSULTATIVE:
            data = json.loads(json_text)
            data["entry_id"] = f"bench{n:06d}=="
            deliveries.append((suffix, json.dumps(data, separators=(",", ":"))))
    return deliveries


def run(calls: int = 150) -> dict[str, Any]:
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    stack = LocalStack(ports=Ports.free(), state_file=None).start()
    try:
        stack.issue_admin_token()
        stack.register_tenant("bench", employees=[], with_crm=False)
        # The post-call workflow is measured by bench/cost.py; here ingest alone, on this thread.
        os.environ.pop("POST_CALL_STATE_MACHINE_ARN", None)
        ingest = load_function("ingest")
        ingest.logger.setLevel("WARNING")
        from mango_bridge.store.table import client

        counts: dict[str, int] = {}
        aws_cpu = [0.0, 0.0]  # [total spent inside DynamoDB calls, start of the current one]

        def call_started(**_: Any) -> None:
            aws_cpu[1] = time.thread_time()

        def call_ended(**_: Any) -> None:
            aws_cpu[0] += time.thread_time() - aws_cpu[1]

        client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", call_started)
        client("dynamodb").meta.events.register("after-call.dynamodb.*", call_ended)
        client("dynamodb").meta.events.register(
            "before-call.dynamodb.*",
            lambda model, **_: counts.__setitem__(model.name, counts.get(model.name, 0) + 1),
        )
        deliveries = _calls(calls)

        def deliver(suffix: str, json_text: str) -> float:
            body = urllib.parse.urlencode(
                {
                    "vpbx_api_key": stack.mango_api_key,
                    "json": json_text,
                    "sign": sign(stack.mango_api_key, json_text, stack.mango_api_salt),
                }
            )
            started = time.perf_counter()
            result = ingest.handler(http_event("bench", suffix, body), CONTEXT)
            elapsed = time.perf_counter() - started
            assert result["statusCode"] == 200, result
            return elapsed

        deliver(*deliveries[0])  # warm: tenant cache, clients
        counts.clear()
        aws_cpu[0] = 0.0
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        latencies = [deliver(s, j) for s, j in deliveries[1:]]
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        n = len(latencies)
        writes = counts.get("PutItem", 0) + counts.get("UpdateItem", 0)
        first = {
            "events": n,
            "events_per_second": round(n / wall, 1),
            "handler_ms_p50": round(statistics.median(latencies) * 1000, 2),
            "handler_ms_p99": round(sorted(latencies)[int(n * 0.99) - 1] * 1000, 2),
            "cpu_ms_per_event": round(cpu / n * 1000, 2),
            "cpu_ms_per_event_beyond_aws_calls": round((cpu - aws_cpu[0]) / n * 1000, 2),
            "ddb_writes_per_event": round(writes / n, 2),
            "ddb_reads_per_event": round((counts.get("Query", 0) + counts.get("GetItem", 0)) / n, 2),
        }
        counts.clear()
        dup = [deliver(s, j) for s, j in deliveries[: min(len(deliveries), 600)]]
        duplicates = {
            "events": len(dup),
            "handler_ms_p50": round(statistics.median(dup) * 1000, 2),
            "ddb_writes_per_event": round(
                (counts.get("PutItem", 0) + counts.get("UpdateItem", 0)) / len(dup), 2
            ),
        }
        return {"backend": stack.dynamodb_backend, "first_delivery": first, "duplicates": duplicates}
    finally:
        stack.stop()


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
