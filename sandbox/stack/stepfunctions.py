"""Step Functions in moto's ASL interpreter, running our real state machines and handlers.

moto executes state machines only with `execute_state_machine` on; its Lambda tasks end in
`LambdaSimpleBackend.invoke`, which we point at our handlers (a raised error becomes a Lambda
function error named after the exception class, so the definitions' Retry/Catch work as in AWS).
Waits and retry intervals are scaled by `time_scale`, so an hour of backoff passes in seconds.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import zipfile
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import httpx

from sandbox.stack.lambdas import LambdaRuntime
from sandbox.stack.template import LocalTemplate

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


class TimeScale:
    """The one place moto's interpreter sleeps: Wait states and retry intervals."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.requested: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )

        scale, requested, lock = self, self.requested, self._lock

        def sleep(seconds: float) -> None:
            with lock:
                requested.append(("retry", seconds))
            time.sleep(max(0.0, seconds * scale.scale))

        def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
            with lock:
                requested.append(("wait", wait_seconds))
            if wait_seconds > 0:
                env.program_state_event.wait(wait_seconds * scale.scale)

        retrier_decl.time = SimpleNamespace(sleep=sleep, time=time.time, monotonic=time.monotonic)
        WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]


def install_lambda_dispatch(runtime: LambdaRuntime, log: Callable[[str], None]) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        logical_id = runtime.logical_id(function_name)
        if logical_id is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFound", "errorMessage": function_name}).encode()
        event = json.loads(body) if body else {}
        invocation_type = next(
            (v for k, v in (headers or {}).items() if k.lower() == "x-amz-invocation-type"), ""
        )
        if invocation_type == "Event":  # asynchronous, as Lambda does it: accepted now, run in the background

            def run() -> None:
                try:
                    runtime.invoke(logical_id, event)
                except Exception as error:
                    log(f"{logical_id} (async) raised {type(error).__name__}: {error}")

            threading.Thread(target=run, daemon=True, name=f"async-{logical_id}").start()
            return b""
        try:
            result = runtime.invoke(logical_id, event)
        except Exception as error:  # a function error, as Lambda reports it
            log(f"{logical_id} raised {type(error).__name__}: {error}")
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_exception(error)[-3:],
                }
            ).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


class LocalStepFunctions:
    def __init__(
        self,
        moto_url: str,
        template: LocalTemplate,
        runtime: LambdaRuntime,
        *,
        time_scale: float,
        log: Callable[[str], None],
    ) -> None:
        self.moto_url = moto_url
        self.template = template
        self.runtime = runtime
        self.time = TimeScale(time_scale)
        self.log = log
        self.arns: dict[str, str] = {}

    def start(self) -> None:
        httpx.post(
            f"{self.moto_url}/moto-api/config",
            timeout=10,
            json={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
        )
        install_lambda_dispatch(self.runtime, self.log)
        self.time.install()
        iam = boto3.client("iam", endpoint_url=self.moto_url)
        role = iam.create_role(RoleName="mango-bridge-local", AssumeRolePolicyDocument=ROLE_POLICY)["Role"][
            "Arn"
        ]
        lam = boto3.client("lambda", endpoint_url=self.moto_url)
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        for lid, function in self.runtime.functions.items():
            lam.create_function(
                FunctionName=self.template.names[lid],
                Runtime="python3.12",
                Role=role,
                Handler=function.handler,
                Code={"ZipFile": package.getvalue()},
            )
        sfn = boto3.client("stepfunctions", endpoint_url=self.moto_url)
        for lid, (name, definition) in self.template.state_machines().items():
            self.arns[lid] = sfn.create_state_machine(
                name=name, definition=definition, roleArn=role, type="STANDARD"
            )["stateMachineArn"]
            self.log(f"state machine {name} created from template.yaml (time scale {self.time.scale:g})")

    def running(self) -> int:
        sfn = boto3.client("stepfunctions", endpoint_url=self.moto_url)
        return sum(
            len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"])
            for arn in self.arns.values()
        )

    def wait_idle(self, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running() == 0:
                return True
            time.sleep(0.25)
        return False

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", endpoint_url=self.moto_url)
        found: list[dict[str, Any]] = []
        for arn in self.arns.values():
            found += sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
        return found
