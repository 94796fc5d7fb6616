"""Cold import time of each function in a fresh interpreter, as Lambda's init phase pays it."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 300.0
PROBE = "import time; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"


def measure(function_dir: Path, runs: int = 7) -> list[float]:
    from sandbox.stack.template import local_template

    template_env = next(iter(local_template("bench").functions().values())).environment
    env = {
        **os.environ,
        **template_env,
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
        "AWS_DEFAULT_REGION": "eu-central-1",
    }
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=function_dir,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


def run() -> list[dict[str, object]]:
    results = []
    for function_dir in sorted((ROOT / "functions").iterdir()):
        if (function_dir / "app.py").exists():
            samples = measure(function_dir)
            median = statistics.median(samples)
            results.append(
                {
                    "function": function_dir.name,
                    "median_ms": round(median, 1),
                    "max_ms": round(max(samples), 1),
                    "budget_ms": BUDGET_MS,
                    "ratio_to_budget": round(median / BUDGET_MS, 2),
                }
            )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
