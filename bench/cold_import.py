"""Cold import time of each function in a fresh interpreter, as Lambda's init phase pays it.

`median_ms` is with bytecode (what the Makefile-built layer ships: every module compiled once, at
build time); `no_bytecode_median_ms` is the same import with no `.pyc` anywhere (a fresh, empty
pycache prefix and none written), which is what a layer built by SAM's own python builder paid on
every cold start."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 300.0
PROBE = "import time; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"


def measure(function_dir: Path, runs: int = 7, bytecode: bool = True) -> list[float]:
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
        if not bytecode:
            # An empty cache prefix: no .pyc is found for any module (ours or the dependencies'), none kept.
            env = {
                **env,
                "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="no-pyc-"),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
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


def run(no_bytecode_runs: int = 3) -> list[dict[str, object]]:
    results = []
    for function_dir in sorted((ROOT / "functions").iterdir()):
        if (function_dir / "app.py").exists():
            samples = measure(function_dir)
            median = statistics.median(samples)
            plain = measure(function_dir, no_bytecode_runs, bytecode=False) if no_bytecode_runs else []
            results.append(
                {
                    "function": function_dir.name,
                    "median_ms": round(median, 1),
                    "max_ms": round(max(samples), 1),
                    "budget_ms": BUDGET_MS,
                    "ratio_to_budget": round(median / BUDGET_MS, 2),
                    "no_bytecode_median_ms": round(statistics.median(plain), 1) if plain else None,
                }
            )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
