"""A server process for the benchmarks: ``python -m bench.server_child MODE``.

Modes:
  stack    LocalStack: every HTTP function on one port plus the queue's push delivery (pipeline runs)
  gateway  the same HTTP functions, same server, without push delivery (API load: runs stay queued)
  hello    a bare functions-framework hello-world, served by the same Werkzeug server (the baseline)

Prints ``{"url": ...}`` on stdout once it answers, and exits when its stdin closes, so a parent that
dies never leaves it behind. Its own process means its peak RSS and CPU are its own.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from bench.common import PROJECT_ROOT


def _serve(app: Any) -> tuple[Any, threading.Thread]:
    # the server LocalStack itself uses: Werkzeug's threaded server, guarded, on loopback
    from shared.application import current
    from shared.local_stack.http_server import make_server

    server = make_server("127.0.0.1", 0, app, current().settings.max_body_bytes)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, thread


def main(mode: str) -> None:
    stop: Any
    if mode == "stack":
        from shared.local_stack.server import LocalStack

        stack = LocalStack(port=0).start()
        url, stop = stack.url, stack.stop
    elif mode == "gateway":
        from shared.local_stack.server import ApiGateway

        server, _ = _serve(ApiGateway())
        url, stop = f"http://127.0.0.1:{server.server_address[1]}", server.shutdown
    elif mode == "hello":
        import functions_framework

        app = functions_framework.create_app(target="hello", source=str(PROJECT_ROOT / "bench" / "hello" / "main.py"))
        server, _ = _serve(app)
        url, stop = f"http://127.0.0.1:{server.server_address[1]}", server.shutdown
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps({"url": url}), flush=True)
    sys.stdin.read()  # blocks until the parent closes our stdin (or dies)
    stop()


if __name__ == "__main__":
    main(sys.argv[1])
