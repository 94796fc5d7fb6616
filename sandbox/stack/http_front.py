"""The HTTP front: what API Gateway's HTTP API does for our routes, on a loopback port.

Each request becomes a payload-format-2.0 event (rawPath kept URL-encoded, as API Gateway does)
and goes to the handler the template routes it to, imported from functions/<name>/app.py and
called in-process.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.stack.lambdas import LambdaRuntime
from sandbox.stack.template import Route

# API Gateway HTTP APIs pass JSON and text through and base64-encode everything else, forms included.
TEXT_TYPES = ("application/json", "text/")


def to_event(
    method: str, target: str, headers: dict[str, str], body: bytes, route: Route, params: dict[str, str]
) -> dict[str, Any]:
    parts = urlsplit(target)
    content_type = headers.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "queryStringParameters": query or None,
        "pathParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode() if is_text else base64.b64encode(body).decode(),
        "isBase64Encoded": not is_text,
    }


class HttpFront:
    def __init__(
        self,
        routes: list[Route],
        runtime: LambdaRuntime,
        port: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.routes = routes
        self.runtime = runtime
        self._log = log
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(target).path
        for route in self.routes:
            if route.method not in ("ANY", method):
                continue
            match = route.pattern().match(path)
            if match:
                event = to_event(method, target, headers, body, route, match.groupdict())
                return self._from_result(self.runtime.invoke(route.function, event))
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'

    @staticmethod
    def _from_result(result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ", ".join(values)
        raw = result.get("body") or ""
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        return int(result.get("statusCode", 200)), headers, body

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                started = time.perf_counter()
                try:
                    status, out_headers, out = front.dispatch(self.command, self.path, headers, body)
                except Exception as error:  # an unhandled handler error is API Gateway's 500
                    status, out_headers = 500, {"content-type": "application/json"}
                    out = json.dumps({"message": "Internal Server Error", "error": repr(error)}).encode()
                if front._log:
                    front._log(
                        f"{self.command} {self.path} → {status} "
                        f"({(time.perf_counter() - started) * 1000:.1f} ms)"
                    )
                self.send_response(status)
                for name, value in out_headers.items():
                    if name != "content-length":
                        self.send_header(name, value)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="http-front")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
