"""`make bench`: every benchmark, printed as figures and ratios to the DESIGN §8 budgets."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import cold_import, ingest_throughput

RESULTS = Path(__file__).resolve().parent / "results.json"


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
        f"p99 {first['handler_ms_p99']} ms; CPU {first['cpu_ms_per_event']} ms/event (budget 5 ms beyond AWS "
        f"calls, this figure includes boto3)"
    )
    print(
        f"   DynamoDB writes per event: {first['ddb_writes_per_event']} (budget ≤ 2); reads per event: "
        f"{first['ddb_reads_per_event']}"
    )
    print(
        f"   duplicates: p50 {dup['handler_ms_p50']} ms, writes per duplicate {dup['ddb_writes_per_event']}"
    )
    RESULTS.write_text(
        json.dumps(
            {"date": datetime.now(UTC).isoformat(), "cold_import": imports, "ingest": ingest}, indent=2
        )
        + "\n"
    )
    print(f"\nSaved {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
