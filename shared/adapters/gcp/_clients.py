"""A vendor client made on first use, shared by the adapters of this package.

Made on first use, so a function's cold start pays nothing for a client it may never need; made
once, however many threads ask at the same moment (a function instance serves requests
concurrently); forgotten on ``close``, so a later use makes a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyClient(Generic[T]):
    def __init__(self, make: Callable[[], T], *, instance: T | None = None) -> None:
        """``make`` builds the client (importing its library); ``instance``, if given, is used instead."""
        self._make = make
        self._instance = instance
        self._lock = threading.Lock()

    def get(self) -> T:
        instance = self._instance
        if instance is None:
            with self._lock:
                if self._instance is None:
                    self._instance = self._make()
                instance = self._instance
        return instance

    def close(self, close: Callable[[T], object]) -> None:
        """Closes the client, if one was made, with ``close``, and forgets it."""
        with self._lock:
            if self._instance is not None:
                close(self._instance)
                self._instance = None
