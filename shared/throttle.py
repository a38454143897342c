"""Slows down key guessing: a client with too many failed authentications gets 429 for a while.

Counts live in the instance's memory, so each serverless instance limits on its own; that still
caps a guesser at (limit x instances) tries per window, and needs no shared store on the hot path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class FailedAuthLimiter:
    def __init__(self, limit: int, window_s: float, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int:
        """Seconds the client must wait; 0 when it may proceed."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < self.limit:
                return 0
            return max(1, int(failures[0] + self.window_s - now) + 1)

    def record_failure(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            failures.append(now)
            self._failures[client] = failures
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:  # bounded memory under a spray of addresses
                self._failures.popitem(last=False)
