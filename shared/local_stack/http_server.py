"""The local stack's HTTP server: Werkzeug's threaded server, with the edges a public port needs.

Werkzeug's development server, as it comes, trusts its client in three ways this module takes back:

- after every response it reads whatever the client is still sending, up to 10 GB, so that a
  refused upload still sees its answer. Here each request may read at most a budget past its
  headers (the body limit, twice, for chunk framing): a client without a key streaming 600 MiB costs
  the server that budget, then a bounded lingering close, not 600 MiB;
- its own refusals (a request line too long, headers too large, a malformed request line) are
  HTML pages; here they are the API's JSON error shape;
- an exception while serving a request is logged as a multi-line traceback; here it is one line,
  the exception's type and message.

The functions themselves (``shared.web.dispatch``) read at most the body limit and answer 413/400
for oversize or broken bodies; this module bounds what the server reads around them.
"""

from __future__ import annotations

import json
import socket
import time
from http import HTTPStatus
from typing import IO, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from shared.logs import get_logger

log = get_logger("http_server")

LINGER_BYTES = 1024 * 1024
"""After answering, at most this much more is read (and dropped) so the client can see the answer."""
LINGER_S = 1.0
ERROR_CODES = {
    400: "invalid_request",
    404: "not_found",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class BudgetedReader:
    """The connection's read side, with a byte budget per request once its headers are read.

    Past the budget it reads as end of stream: Werkzeug's chunk decoder then reports a malformed
    body, and its post-response drain stops.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.remaining: int | None = None
        """Bytes this request may still read; None while the request line and headers are read."""

    def _allow(self, size: int | None) -> int | None:
        if self.remaining is None:
            return size
        if size is None or size < 0:
            return self.remaining
        return min(size, self.remaining)

    def _spent(self, data: bytes) -> bytes:
        if self.remaining is not None:
            self.remaining -= len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        allowed = self._allow(size)
        if allowed == 0:
            return b""
        return self._spent(self._raw.read(-1 if allowed is None else allowed))

    def readline(self, size: int | None = -1) -> bytes:
        allowed = self._allow(size)
        if allowed == 0:
            return b""
        return self._spent(self._raw.readline(-1 if allowed is None else allowed))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def __getattr__(self, name: str) -> Any:  # close, fileno, ... of the underlying file
        return getattr(self._raw, name)


class GuardedRequestHandler(WSGIRequestHandler):
    server: GuardedServer

    def setup(self) -> None:
        super().setup()
        self.rfile = BudgetedReader(self.rfile)  # type: ignore[assignment,arg-type]

    def handle_one_request(self) -> None:
        self.rfile.remaining = None  # type: ignore[attr-defined]
        super().handle_one_request()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        # headers are read: from here on, this request's body (and its framing) has a budget
        self.rfile.remaining = self.server.body_budget  # type: ignore[attr-defined]
        return environ

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own refusals, in the API's error shape."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.log_error("refused: %d %s", code, message or phrase)
        body = json.dumps({"error": {"code": ERROR_CODES.get(code, "invalid_request"), "message": phrase}}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)


class GuardedServer(ThreadedWSGIServer):
    def __init__(self, host: str, port: int, app: Any, max_body_bytes: int) -> None:
        self.body_budget = 2 * max_body_bytes + 64 * 1024
        super().__init__(host, port, app, handler=GuardedRequestHandler)

    def log(self, type: str, message: str, *args: Any) -> None:
        # Werkzeug passes a whole traceback as the message of "Error on request": keep one line,
        # the exception itself (the traceback's last line)
        if "\n" in message:
            lines = [line for line in (message % args if args else message).splitlines() if line.strip()]
            message, args = f"{lines[0]} {lines[-1]}", ()
        super().log(type, message, *args)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        # the type only: a message could carry request data
        log.error(f"connection failed: {type(sys.exc_info()[1]).__name__}")

    def shutdown_request(self, request: Any) -> None:
        """A lingering close: the answer is sent, then a bounded amount of what the client still
        sends is dropped, so its connection is not reset before it reads the answer."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(0.1)
            deadline, dropped = time.monotonic() + LINGER_S, 0
            while dropped < LINGER_BYTES and time.monotonic() < deadline:
                try:
                    data = request.recv(64 * 1024)
                except TimeoutError:
                    continue
                if not data:
                    break
                dropped += len(data)
        except OSError:
            pass
        self.close_request(request)


def make_server(host: str, port: int, app: Any, max_body_bytes: int) -> GuardedServer:
    return GuardedServer(host, port, app, max_body_bytes)
