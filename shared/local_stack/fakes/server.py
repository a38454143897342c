"""``FakeServer``: the fakes on a loopback port, in a background thread of this process."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from shared.local_stack.fakes.app import VendorFakes


class _QuietHandler(WSGIRequestHandler):
    """No access-log line per request: tests make thousands, and the log is the fakes' own."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class FakeServer:
    """Serves ``fakes`` (a fresh ``VendorFakes`` by default) on ``host:port``; port 0 picks a
    free one. ``base_url`` is what ``CLOUDACT_OPENAI_API_BASE`` / ``CLOUDACT_ANTHROPIC_API_BASE``
    point to."""

    def __init__(self, fakes: VendorFakes | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fakes = fakes if fakes is not None else VendorFakes()
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def env(self) -> dict[str, str]:
        """The settings that point the pipelines at these fakes."""
        return {"CLOUDACT_OPENAI_API_BASE": self.base_url, "CLOUDACT_ANTHROPIC_API_BASE": self.base_url}

    def start(self) -> FakeServer:
        if self._server is not None:
            return self
        self.fakes.resume_delays()
        self._server = make_server(self._host, self._port, self.fakes, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="vendor-fakes", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.fakes.interrupt_delays()  # a slow answer in progress must not hold the shutdown
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def wait(self) -> None:
        """Blocks until the server stops (Ctrl-C when run on its own)."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
