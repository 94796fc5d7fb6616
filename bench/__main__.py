"""`make bench`: every benchmark, printed as figures and ratios to the DESIGN §8 budgets."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import capacity, cold_import, cost, ingest_throughput, reconcile_day, routing_latency

RESULTS = Path(__file__).resolve().parent / "results.json"
README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ROUTING_LABELS = {
    "cache_hit_crm_0ms": "cache hit",
    "cache_miss_crm_0ms": "cache miss, CRM at 0 ms",
    "cache_miss_crm_300ms": "cache miss, CRM at 300 ms per request",
}
ROUTING_BUDGETS = {
    "cache_hit_crm_0ms": "p99 ≤ 300 ms warm",
    "cache_miss_crm_0ms": "—",
    "cache_miss_crm_300ms": "p99 ≤ 1 s",
}


def readme_section(
    imports: list[dict[str, object]],
    ingest: dict[str, dict[str, object]],
    costs: dict[str, Any],
    reconcile: dict[str, Any],
    routing: dict[str, Any],
    when: str,
    capacity_model: dict[str, Any],
) -> str:
    first, dup = ingest["first_delivery"], ingest["duplicates"]
    after, before = costs["after"], costs.get("before") or {}
    per = after["per_call"]
    totals = {s: after["summary"][s]["usd_per_1000_calls"] for s in after["summary"]}
    was = {s: before.get("summary", {}).get(s, {}).get("usd_per_1000_calls") for s in totals}
    rows = [
        "| What | Measured | Budget (DESIGN §8) |",
        "|---|---|---|",
        *(
            f"| cold import, `{r['function']}` (median of 7, fresh interpreter, with bytecode) | {r['median_ms']} ms "
            f"({r['ratio_to_budget']} × budget; {r.get('no_bytecode_median_ms')} ms without bytecode) | ≤ 300 ms |"
            for r in imports
        ),
        f"| ingest throughput, one thread, DynamoDB Local | {first['events_per_second']} events/s | — |",
        f"| ingest handler, warm, p50 / p99 (DynamoDB Local round trips included) | {first['handler_ms_p50']} / "
        f"{first['handler_ms_p99']} ms | — |",
        f"| ingest CPU per event beyond AWS calls (all of it, botocore included) | "
        f"{first['cpu_ms_per_event_beyond_aws_calls']} ms ({first['cpu_ms_per_event']} ms) | ≤ 5 ms beyond AWS calls |",
        f"| DynamoDB writes per event | {first['ddb_writes_per_event']} | ≤ 2 |",
        f"| DynamoDB reads per event | {first['ddb_reads_per_event']} | — |",
        f"| duplicate delivery: writes / p50 | {dup['ddb_writes_per_event']} / {dup['handler_ms_p50']} ms | — |",
        f"| AWS cost per 1,000 calls, every billed line, all after-call features and smart routing on, CRM at "
        f"{after['measured']['crm_latency_ms']} ms (table below) — 1k / 100k / 1M calls a day | "
        f"${totals['1000']} / **${totals['100000']}** / ${totals['1000000']} (before the savings: "
        f"${was['1000']} / ${was['100000']} / ${was['1000000']}) | ≤ $0.10 at 100k |",
        f"| per call: notifications / state transitions / Lambda invocations / DynamoDB WRU / RRU / log bytes | "
        f"{per['notifications']} / {per['sfn_transitions']} / {per['lambda_invocations']} / {per['wru']} / "
        f"{per['rru']} / {per['log_bytes']:.0f} | — |",
        *(
            f"| routing, Appeared → commands/route, {ROUTING_LABELS[name]}: warm p50 / p99; first call of a fresh "
            f"process | {case['warm'].get('p50_ms')} / {case['warm'].get('p99_ms')} ms; {case['cold_first_call_ms']} ms "
            f"| {ROUTING_BUDGETS[name]} |"
            for name, case in routing.items()
            if name in ROUTING_LABELS
        ),
        f"| nightly sync of a {reconcile['calls']:,}-call day (dry run: streamed stats + batched lookups) | "
        f"{reconcile['dry_run_seconds']} s, peak {reconcile['peak_python_memory_mb']} MB | ≤ 5 min, flat memory |",
        f"| restoring one missing call (rebuild, fold, start post-call; DynamoDB Local + moto) | "
        f"{reconcile['seconds_per_restored_call']} s | — |",
    ]
    cost_rows = [
        "",
        "**What AWS bills** (`bench/cost.py`), USD per 1,000 calls at each volume, eu-central-1 list prices, "
        f"{cost.CALLS_PER_TENANT_PER_DAY:,} calls per tenant a day, calls kept {cost.RETENTION_DAYS} days. "
        "Measured on the demo day with every after-call feature and smart routing on: DynamoDB capacity units "
        "as DynamoDB reports them per table and index, Lambda time with the CRM answering in "
        f"{after['measured']['crm_latency_ms']} ms and Mango in {after['measured']['mango_latency_ms']} ms, "
        "the bytes our functions log; estimated: Lambda's own log lines, access-log lines, cold starts "
        "(one per environment every 10 min at most).",
        "",
        *after["table"],
        "",
        "Before the savings (the same bench on the previous code), total USD per 1,000 calls: "
        + " / ".join(f"{int(s):,}/day {v}" for s, v in was.items() if v is not None)
        + "; its lines are in `bench/cost_before.json`. Step Functions transitions vary between runs with the "
        f"timing of the post-call retries (this run {per['sfn_transitions']} a call, that one "
        f"{before.get('per_call', {}).get('sfn_transitions')}).",
        "",
        "**Capacity** (`bench/capacity.py`): peak use of each limit at 10× the day's mean rate, and the "
        "calls a day at which it is reached.",
        "",
        *capacity.table_rows(capacity_model),
    ]
    return "\n".join(
        [
            BEGIN,
            f"Latest run: {when} ({platform.machine()}, Python {platform.python_version()}, "
            f"{ingest['backend']}).",
            "",
            *rows,
            *cost_rows,
            END,
        ]
    )


def update_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> int:
    print(
        f"Benchmarks on {platform.machine()} / Python {platform.python_version()} / "
        f"{datetime.now(UTC):%Y-%m-%d}",
        flush=True,
    )
    print("\n1. Cold import per function (fresh interpreter, median of 7; budget 300 ms)", flush=True)
    imports = cold_import.run()
    for row in imports:
        print(
            f"   {row['function']:<10} {row['median_ms']:>7.1f} ms  (max {row['max_ms']:.1f}; "
            f"{row['ratio_to_budget']:.2f} × budget)"
        )
    print(
        "\n2. Ingest handler against DynamoDB Local (150 calls × 12 notifications, then duplicates)",
        flush=True,
    )
    ingest = ingest_throughput.run()
    first, dup = ingest["first_delivery"], ingest["duplicates"]
    print(f"   backend: {ingest['backend']}")
    print(
        f"   {first['events_per_second']} events/s on one thread; handler p50 {first['handler_ms_p50']} ms, "
        f"p99 {first['handler_ms_p99']} ms; CPU beyond AWS calls {first['cpu_ms_per_event_beyond_aws_calls']} "
        f"ms/event (budget 5 ms; {first['cpu_ms_per_event']} ms with botocore's own work)"
    )
    print(
        f"   DynamoDB writes per event: {first['ddb_writes_per_event']} (budget ≤ 2); reads per event: "
        f"{first['ddb_reads_per_event']}"
    )
    print(
        f"   duplicates: p50 {dup['handler_ms_p50']} ms, writes per duplicate {dup['ddb_writes_per_event']}"
    )
    print(
        "\n3. What AWS bills per 1,000 calls (demo day through the local stack, every feature on; "
        "eu-central-1 prices)",
        flush=True,
    )
    costs = {
        "after": cost.run(cold_import_ms={r["function"]: r["median_ms"] for r in imports}),
        "before": json.loads(cost.BEFORE.read_text(encoding="utf-8")) if cost.BEFORE.exists() else None,
    }
    print("\n".join("   " + row for row in costs["after"]["table"]))
    for scale, summary in costs["after"]["summary"].items():
        was = (costs["before"] or {}).get("summary", {}).get(scale, {}).get("usd_per_1000_calls")
        print(
            f"   {int(scale):>9,} calls/day: ${summary['usd_per_1000_calls']} per 1,000 calls (before: ${was})"
        )
    capacity_model = capacity.report(costs["after"])
    print("\n   Capacity model (peaks at 10× the mean):")
    print("\n".join(capacity.describe(capacity_model)))
    print("\n4. Nightly sync of a 100,000-call day (Mango sandbox statistics, DynamoDB Local)", flush=True)
    reconcile = reconcile_day.run()
    print(
        f"   {reconcile['calls']:,} calls in {reconcile['dry_run_seconds']} s ({reconcile['calls_per_second']}/s), "
        f"peak Python memory {reconcile['peak_python_memory_mb']} MB (budget 5 min, flat); restoring a missing "
        f"call: {reconcile['seconds_per_restored_call']} s each"
    )
    print(
        "\n5. Smart routing: Appeared webhook received → commands/route sent (local stack in process)",
        flush=True,
    )
    routing = routing_latency.run()
    print("\n".join(routing_latency.describe(routing)))
    when = f"{datetime.now(UTC):%Y-%m-%d}"
    RESULTS.write_text(
        json.dumps(
            {
                "date": when,
                "cold_import": imports,
                "ingest": ingest,
                "cost": {"after": costs["after"]},
                "capacity": capacity_model,
                "reconcile": reconcile,
                "routing": routing,
            },
            indent=2,
        )
        + "\n"
    )
    update_readme(readme_section(imports, ingest, costs, reconcile, routing, when, capacity_model))
    print(f"\nSaved {RESULTS} and the README's benchmark table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
