"""What every sandbox server shares: a threaded werkzeug server on a loopback port, started and
stopped from tests and the local stack."""

from __future__ import annotations

import threading
import time
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Tests and the local stack read the sandboxes' own request logs instead."""


class LoopbackServer:
    """Mixin: subclasses set `host`, `port` and `thread_name`, and implement `wsgi_app`."""

    host: str
    port: int
    thread_name = "sandbox"
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = make_server(
            self.host, self.port, self.wsgi_app, threaded=True, request_handler=QuietRequestHandler
        )
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def run_until_interrupted(self) -> None:
        """Keeps a sandbox started on its own (`python -m …`) up until Ctrl-C."""
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"
