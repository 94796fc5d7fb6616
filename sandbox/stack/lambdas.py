"""Our Lambda handlers, loaded from functions/<name>/app.py and called in this process."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.stack.template import Function

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes our handlers and powertools read from the Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""
    timeout_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def load_handler(function: Function) -> Handler:
    module_name, attr = function.handler.rsplit(".", 1)
    path = function.code_uri / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{function.logical_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attr)


class LambdaRuntime:
    """One imported module per function, as a warm container would keep it."""

    def __init__(self, functions: dict[str, Function], names: dict[str, str]) -> None:
        self.functions = functions
        self._by_name = {names.get(lid, lid): lid for lid in functions}
        self._names = names
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def logical_id(self, name_or_arn: str) -> str | None:
        name = name_or_arn.rsplit("function:", 1)[-1].split(":", 1)[0]
        return name if name in self.functions else self._by_name.get(name)

    def handler(self, logical_id: str) -> Handler:
        with self._lock:
            if logical_id not in self._handlers:
                self._handlers[logical_id] = load_handler(self.functions[logical_id])
            return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        context = LambdaContext(
            function_name=self._names.get(logical_id, logical_id),
            aws_request_id=uuid.uuid4().hex,
            invoked_function_arn=self._names.get(f"{logical_id}.Arn", ""),
        )
        return self.handler(logical_id)(event, context)
