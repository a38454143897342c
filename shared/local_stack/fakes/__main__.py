"""``python -m shared.local_stack.fakes [--port N]``: the vendor fakes on their own."""

from __future__ import annotations

import argparse
import sys

from shared.local_stack.fakes.server import FakeServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local fakes of the OpenAI and Anthropic admin cost/usage APIs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = FakeServer(host=args.host, port=args.port).start()
    print(server.base_url, flush=True)  # the one line a parent process reads
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
