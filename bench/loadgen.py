"""A small, bounded loopback load generator: N threads, one keep-alive connection each.

Bounded in both count and time, and it only ever talks to 127.0.0.1. Each request is built by a
factory (so submits can carry a fresh date each), and every answer's status and latency is kept.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import percentile

Request = tuple[str, str, dict[str, str], bytes | None]
"""(method, path, headers, body)"""


@dataclass
class LoadResult:
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def requests_per_s(self) -> float:
        """Successful answers per second: a 409 or 500 is not throughput."""
        return self.ok / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float | int | dict[str, int]]:
        return {
            "requests_per_s": self.requests_per_s,
            "p50_ms": percentile(self.latencies_s, 0.50) * 1000,
            "p99_ms": percentile(self.latencies_s, 0.99) * 1000,
            "requests": len(self.latencies_s),
            "ok": self.ok,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": self.seconds,
        }


def run_load(
    port: int, make_request: Callable[[], Request], connections: int, duration_s: float, max_requests: int
) -> LoadResult:
    deadline = time.perf_counter() + duration_s
    lock = threading.Lock()
    issued = 0
    result = LoadResult(seconds=0.0)

    def worker() -> None:
        nonlocal issued
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors = 0
        while time.perf_counter() < deadline:
            with lock:
                if issued >= max_requests:
                    break
                issued += 1
            method, path, headers, body = make_request()
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()  # reconnects on the next request
                continue
            latencies.append(time.perf_counter() - started)
            statuses[response.status] += 1
        connection.close()
        with lock:
            result.latencies_s.extend(latencies)
            result.statuses.update(statuses)
            result.errors += errors

    threads = [threading.Thread(target=worker, name=f"load-{i}") for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result
