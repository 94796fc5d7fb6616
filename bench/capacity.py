"""Capacity model: which AWS quota, throttle or hot key gives out first, from the measured per-call figures.

Inputs are what `bench/cost.py` measured on the demo day (requests per call, invocations and billed
seconds per function, executions and state transitions, capacity units per index) and AWS's published
default quotas for eu-central-1. Every rate is taken at the peak: `PEAK_TO_MEAN` × the day's mean
(DESIGN §8: 1,000,000 calls a day with 10× peaks). Demand grows linearly with calls, so each limit
also says at how many calls a day it would be reached.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEAK_TO_MEAN = 10.0
SCALES = (100_000, 1_000_000, 10_000_000)
CALLS_PER_TENANT_PER_DAY = 5_000
RECONCILE_SECONDS_PER_CALL = 0.00095
"""Nightly sync, dry run: 100,000 calls in 95 s (bench/reconcile_day.py)."""
RECONCILE_SECONDS_PER_TENANT = 15.0
"""Per tenant: stats/request, polling stats/result every 5 s while Mango answers 204, settings."""

QUOTAS: dict[str, tuple[float, str]] = {
    "account_rps": (
        10_000,
        "API Gateway: throttle per account and Region, all APIs (10,000 rps, burst 5,000)",
    ),
    "lambda_concurrency": (1_000, "Lambda: concurrent executions per Region (default 1,000)"),
    "sfn_start": (150, "Step Functions Standard: StartExecution refill 150/s, bucket 800 (eu-central-1)"),
    "sfn_transitions": (
        800,
        "Step Functions Standard: StateTransition refill 800/s, bucket 800 (eu-central-1)",
    ),
    "ddb_table_wcu": (40_000, "DynamoDB on-demand: 40,000 WRU/s per table (default)"),
    "ddb_partition_wcu": (1_000, "DynamoDB: 1,000 WCU/s per partition (one key value)"),
    "ddb_partition_rcu": (3_000, "DynamoDB: 3,000 RCU/s per partition"),
    "amocrm_rps": (7, "amoCRM API: 7 requests/s per account"),
    "lambda_timeout": (900, "Lambda: 900 s per invocation (the nightly sync runs all tenants in one)"),
}


@dataclass
class Limit:
    name: str
    quota: float
    unit: str
    source: str
    demand_per_call_day: float
    """Demand at the peak for each call a day (scales linearly)."""
    fixed: float = 0.0
    per_tenant: bool = False
    """A limit of one tenant (its CRM account, its own key): demand from one tenant's calls a day, and
    `reached_at` in that tenant's calls a day."""

    def demand(self, calls_per_day: int) -> float:
        if self.per_tenant:
            calls_per_day = min(calls_per_day, CALLS_PER_TENANT_PER_DAY)
        return self.fixed + self.demand_per_call_day * calls_per_day

    def reached_at(self) -> float:
        if self.demand_per_call_day <= 0:
            return math.inf
        return max(0.0, (self.quota - self.fixed) / self.demand_per_call_day)


def route_throttle() -> tuple[float, float]:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    rate = _param_default(text, re.search(r"ThrottlingRateLimit: (.+)", text).group(1))  # type: ignore[union-attr]
    burst = _param_default(text, re.search(r"ThrottlingBurstLimit: (.+)", text).group(1))  # type: ignore[union-attr]
    return rate, burst


def _param_default(text: str, value: str) -> float:
    value = value.strip()
    if value.startswith("!Ref "):
        name = value.split()[1]
        block = re.search(rf"\n  {name}:\n((?:    .*\n)+)", text)
        default = re.search(r"Default: (\S+)", block.group(1)) if block else None  # type: ignore[union-attr]
        return float(default.group(1)) if default else math.nan
    return float(value)


def limits(cost: dict[str, Any]) -> list[Limit]:
    """The limits a day of calls runs into, each with its demand per call a day at the peak."""
    measured = cost["measured"]
    calls = measured["calls"]
    per_day_to_peak_per_s = PEAK_TO_MEAN / 86400 / calls  # × a count measured over the demo day
    functions = measured["functions"]
    http = sum(functions.get(f, {}).get("invocations", 0) for f in ("IngestFunction", "RecordingFunction"))
    concurrency = sum(f.get("billed_us", 0) / 1e6 for f in functions.values())
    ddb = measured["ddb"]
    table_wru = sum(v for k, v in ddb.items() if k.startswith("w_") and k != "w_requests")
    by_op = measured["ddb_by_op"]
    day_index = next((i for i in ("GSI3",) if any(k.endswith(f":{i}") for k in by_op)), "GSI1")
    day_wru = sum(v for k, v in by_op.items() if k.endswith(f":{day_index}"))
    due_wru = sum(v for k, v in by_op.items() if k.endswith(":GSI1"))
    if day_index == "GSI1":  # before the calls had their own day index: GSI1 carried both keys
        due_wru = measured.get("enrich_gsi1_wru", due_wru * 0.2)
    executions = measured["executions"]
    transitions = measured["transitions"]
    crm_requests = measured.get("http_requests", {}).get("crm", 0)
    rate, _burst = route_throttle()
    tenants_fixed = 1.0 / CALLS_PER_TENANT_PER_DAY
    q = {k: v[0] for k, v in QUOTAS.items()}
    s = {k: v[1] for k, v in QUOTAS.items()}
    return [
        Limit(
            "HTTP API route throttle (template DefaultRouteSettings)",
            rate,
            "rps",
            "template.yaml",
            http * per_day_to_peak_per_s,
        ),
        Limit(
            "HTTP API account throttle",
            q["account_rps"],
            "rps",
            s["account_rps"],
            http * per_day_to_peak_per_s,
        ),
        Limit(
            "Lambda concurrency (all functions)",
            q["lambda_concurrency"],
            "concurrent",
            s["lambda_concurrency"],
            concurrency * per_day_to_peak_per_s,
        ),
        Limit(
            "Step Functions StartExecution",
            q["sfn_start"],
            "/s",
            s["sfn_start"],
            executions * per_day_to_peak_per_s,
        ),
        Limit(
            "Step Functions state transitions",
            q["sfn_transitions"],
            "/s",
            s["sfn_transitions"],
            transitions * per_day_to_peak_per_s,
        ),
        Limit(
            "DynamoDB table writes",
            q["ddb_table_wcu"],
            "WRU/s",
            s["ddb_table_wcu"],
            table_wru * per_day_to_peak_per_s,
        ),
        Limit(
            "hot key `ENRICH#DUE` (GSI1, every tenant's after-call jobs)",
            q["ddb_partition_wcu"],
            "WCU/s",
            s["ddb_partition_wcu"],
            due_wru * per_day_to_peak_per_s,
        ),
        Limit(
            f"hot key `DAY#<tenant>#<day>` ({day_index}), per tenant",
            q["ddb_partition_wcu"],
            "WCU/s",
            s["ddb_partition_wcu"],
            day_wru * per_day_to_peak_per_s,
            per_tenant=True,
        ),
        Limit(
            f"amoCRM API, per tenant of {CALLS_PER_TENANT_PER_DAY:,} calls/day",
            q["amocrm_rps"],
            "rps",
            s["amocrm_rps"],
            crm_requests * per_day_to_peak_per_s,
            per_tenant=True,
        ),
        Limit(
            "nightly sync, one invocation for all tenants",
            q["lambda_timeout"],
            "s",
            s["lambda_timeout"],
            RECONCILE_SECONDS_PER_CALL + RECONCILE_SECONDS_PER_TENANT * tenants_fixed,
            fixed=RECONCILE_SECONDS_PER_TENANT,
        ),
    ]


def report(cost: dict[str, Any]) -> dict[str, Any]:
    found = limits(cost)
    scales: dict[str, Any] = {}
    for calls in SCALES:
        rows = []
        for limit in found:
            demand = limit.demand(calls)
            rows.append(
                {
                    "limit": limit.name,
                    "quota": limit.quota,
                    "unit": limit.unit,
                    "peak_demand": round(demand, 2),
                    "used_pct": round(100 * demand / limit.quota, 1),
                    "headroom_x": round(limit.quota / demand, 2) if demand else None,
                }
            )
        rows.sort(key=lambda r: -r["used_pct"])
        scales[str(calls)] = {"first_limit": rows[0]["limit"], "rows": rows}
    return {
        "peak_to_mean": PEAK_TO_MEAN,
        "scales": scales,
        "reached_at_calls_per_day": {
            limit.name: (None if math.isinf(limit.reached_at()) else int(limit.reached_at()))
            for limit in found
        },
        "sources": {limit.name: limit.source for limit in found},
        "per_tenant": [limit.name for limit in found if limit.per_tenant],
    }


def describe(model: dict[str, Any]) -> list[str]:
    lines = [f"   peaks at {model['peak_to_mean']:g} × the day's mean rate"]
    for calls, scale in model["scales"].items():
        lines.append(f"   {int(calls):,} calls/day — first limit: {scale['first_limit']}")
        for row in scale["rows"]:
            lines.append(
                f"     {row['used_pct']:>7.1f} %  {row['limit']}: {row['peak_demand']:,} of {row['quota']:,} {row['unit']}"
                f" (headroom {row['headroom_x']}×)"
            )
    lines.append("   reached at (calls/day):")
    for name, at in sorted(model["reached_at_calls_per_day"].items(), key=lambda kv: kv[1] or 1e18):
        whose = " (one tenant's calls/day)" if name in model["per_tenant"] else ""
        lines.append(f"     {at:>14,}  {name}{whose}" if at is not None else f"     {'never':>14}  {name}")
    return lines


def table_rows(model: dict[str, Any]) -> list[str]:
    scales = list(model["scales"])
    rows = [
        "| Limit (eu-central-1 default) | "
        + " | ".join(f"{int(s):,}/day, peak use" for s in scales)
        + " | reached at (calls/day) |",
        "|---|" + "---:|" * len(scales) + "---:|",
    ]
    by_name = {s: {r["limit"]: r for r in model["scales"][s]["rows"]} for s in scales}
    for name, at in sorted(model["reached_at_calls_per_day"].items(), key=lambda kv: kv[1] or 1e18):
        cells = [f"{by_name[s][name]['used_pct']:.1f} %" for s in scales]
        whose = " of one tenant" if name in model["per_tenant"] else ""
        rows.append(f"| {name} ({model['sources'][name]}) | " + " | ".join(cells) + f" | {at:,}{whose} |")
    return rows


if __name__ == "__main__":
    import json

    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    print("\n".join(describe(report(results["cost"]["after"]))))
