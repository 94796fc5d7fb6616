"""Our Lambda handlers, loaded from functions/<name>/app.py and called in this process."""

from __future__ import annotations

import importlib.util
import inspect
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
    """Warm containers per function, as Lambda keeps them: each handles one invocation at a time, and
    a concurrent invocation gets a container of its own (the handler module loaded again), so module
    state such as the event resolver's current request is never shared by two requests."""

    def __init__(self, functions: dict[str, Function], names: dict[str, str]) -> None:
        self.functions = functions
        self._by_name = {names.get(lid, lid): lid for lid in functions}
        self._names = names
        self._idle: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def logical_id(self, name_or_arn: str) -> str | None:
        name = name_or_arn.rsplit("function:", 1)[-1].split(":", 1)[0]
        return name if name in self.functions else self._by_name.get(name)

    def handler(self, logical_id: str) -> Handler:
        """An idle warm container's handler, or a new container's; give it back with `release`."""
        with self._lock:
            idle = self._idle.setdefault(logical_id, [])
            if idle:
                return idle.pop()
        return load_handler(self.functions[logical_id])

    def release(self, logical_id: str, handler: Handler) -> None:
        with self._lock:
            self._idle.setdefault(logical_id, []).append(handler)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        context = LambdaContext(
            function_name=self._names.get(logical_id, logical_id),
            aws_request_id=uuid.uuid4().hex,
            invoked_function_arn=self._names.get(f"{logical_id}.Arn", ""),
        )
        handler = self.handler(logical_id)
        try:
            if _uses_event_resolver(handler):
                # Powertools keeps the resolver's current request on a class attribute: one process-wide
                # value, safe in Lambda (one request per process), not between threads of this one.
                with _RESOLVER_LOCK:
                    return handler(event, context)
            return handler(event, context)
        finally:
            self.release(logical_id, handler)


_RESOLVER_LOCK = threading.Lock()


def _uses_event_resolver(handler: Handler) -> bool:
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    names = getattr(inspect.unwrap(handler), "__globals__", {})
    return any(isinstance(value, BaseRouter) for value in list(names.values()))
