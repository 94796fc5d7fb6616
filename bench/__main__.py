"""`make bench`: every benchmark, printed as figures and ratios to the DESIGN §8 budgets."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_import, cost, ingest_throughput, reconcile_day, routing_latency

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
) -> str:
    first, dup = ingest["first_delivery"], ingest["duplicates"]
    costs, enriched = costs["baseline"], costs["all_features"]
    usd, per = costs["usd_per_1000_calls"], costs["per_call"]
    rows = [
        "| What | Measured | Budget (DESIGN §8) |",
        "|---|---|---|",
        *(
            f"| cold import, `{r['function']}` (median of 7, fresh interpreter) | {r['median_ms']} ms "
            f"({r['ratio_to_budget']} × budget) | ≤ 300 ms |"
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
        f"| AWS cost per 1,000 calls, demo day, all of it (SFN {usd['step_functions']}, Lambda {usd['lambda']}, "
        f"DynamoDB {usd['dynamodb']}, HTTP API {usd['http_api']}) | ${usd['total']} | ≤ $0.10 |",
        f"| per call: state transitions / Lambda invocations / DynamoDB writes / reads | "
        f"{per['sfn_transitions']} / {per['lambda_invocations']} / {per['ddb_writes']} / {per['ddb_reads']} | — |",
        f"| AWS cost per 1,000 calls, demo day, every after-call feature on (speech analytics, ratings, call "
        f"tracking; sweeps over 24 h: {enriched['after_call'].get('mango_requests', 0)} Mango requests) | "
        f"${enriched['usd_per_1000_calls']['total']} | ≤ $0.10 |",
        f"| after-call sweep, fixed cost per deployment (every 5 min) | ${enriched['sweep_usd_per_day']} a day | — |",
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
    return "\n".join(
        [
            BEGIN,
            f"Latest run: {when} ({platform.machine()}, Python {platform.python_version()}, "
            f"{ingest['backend']}).",
            "",
            *rows,
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
        "\n3. AWS cost per 1,000 calls (demo day through the local stack; us-east-1 list prices)", flush=True
    )
    costs = {"baseline": cost.run(), "all_features": cost.run(all_features=True)}
    usd, per = costs["baseline"]["usd_per_1000_calls"], costs["baseline"]["per_call"]
    print(
        f"   ${usd['total']} per 1,000 calls (budget $0.10; {usd['total'] / 0.10:.2f} × budget): Step Functions "
        f"${usd['step_functions']}, Lambda ${usd['lambda']}, DynamoDB ${usd['dynamodb']}, HTTP API ${usd['http_api']}"
    )
    print(
        f"   per call: {per['sfn_transitions']} state transitions, {per['lambda_invocations']} Lambda invocations, "
        f"{per['ddb_writes']} DynamoDB writes, {per['ddb_reads']} reads, {per['notifications']} notifications"
    )
    enriched = costs["all_features"]
    print(
        f"   every after-call feature on: ${enriched['usd_per_1000_calls']['total']} per 1,000 calls "
        f"({enriched['per_call']['sfn_transitions']} transitions per call; the sweep itself "
        f"${enriched['sweep_usd_per_day']} a day per deployment; {enriched['after_call']})"
    )
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
                "cost": costs,
                "reconcile": reconcile,
                "routing": routing,
            },
            indent=2,
        )
        + "\n"
    )
    update_readme(readme_section(imports, ingest, costs, reconcile, routing, when))
    print(f"\nSaved {RESULTS} and the README's benchmark table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
