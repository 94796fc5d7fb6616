"""The local stack as a separate process (`python -m sandbox.stack serve --free-ports`), exactly as
`make serve` runs it: DynamoDB Local, moto's server, the HTTP front, the Mango sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_file = tmp_path_factory.mktemp("stack") / "stack.json"
    log_path = state_file.with_suffix(".log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox.stack",
                "serve",
                "--free-ports",
                "--time-scale",
                "0.002",
                "--state-file",
                str(state_file),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"local stack did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            time.sleep(0.1)
            yield json.loads(state_file.read_text())
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def admin(stack: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack["admin_url"], timeout=30, headers={"authorization": f"Bearer {stack['admin_token']}"}
    ) as client:
        yield client


@pytest.fixture(scope="session")
def amo(stack: dict[str, Any]) -> Iterator[httpx.Client]:
    """The amoCRM sandbox's own API and control endpoints."""
    with httpx.Client(base_url=stack["amocrm_url"], timeout=30, trust_env=False) as client:
        yield client
