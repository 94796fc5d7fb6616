"""The nightly sync of a 100,000-call day: wall time and peak memory (budget: ≤ 5 min, flat memory).

Mango's statistics come from the sandbox's generated day over HTTP (CSV streamed), the bridge's state
from DynamoDB Local in batches. The day is reconciled as a dry run — every call looked up, nothing
written — which is the part that grows with the day; restoring a missing call is measured separately
on a small day, since it grows with what is missing, not with the day.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import date
from typing import Any


def run(count: int = 100_000, restore: int = 200) -> dict[str, Any]:
    from mango_bridge.mango.client import MangoClient
    from mango_bridge.reconcile.job import Reconciler, StatsSource
    from sandbox.stack.stack import LocalStack, Ports

    stack = LocalStack(ports=Ports.free(), state_file=None, time_scale=0.002).start()
    try:
        stack.issue_admin_token()
        stack.register_tenant("bench", employees=[], with_crm=False)
        stack.mango.stats_rate_limit_seconds = 0.0
        big, small = date(2025, 9, 1), date(2025, 9, 2)
        stack.mango.history.add_generated_day(big, count, seed=1)
        stack.mango.history.add_generated_day(small, restore, seed=2)

        def source(tenant: str) -> StatsSource:
            return StatsSource(
                MangoClient(stack.mango.url, stack.mango_api_key, stack.mango_api_salt), poll_seconds=1.0
            )

        reconciler = Reconciler(source=source)
        tracemalloc.start()
        started = time.perf_counter()
        report = reconciler.run("bench", big, dry_run=True)
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        started = time.perf_counter()
        restored = reconciler.run("bench", small)
        restore_wall = time.perf_counter() - started
        return {
            "calls": report.found,
            "dry_run_seconds": round(wall, 1),
            "calls_per_second": round(report.found / wall),
            "peak_python_memory_mb": round(peak / 2**20, 1),
            "restored": len(restored.restored),
            "seconds_per_restored_call": round(restore_wall / max(1, len(restored.restored)), 4),
            "error": report.error or restored.error,
        }
    finally:
        stack.stop()


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
