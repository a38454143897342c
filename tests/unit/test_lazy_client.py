"""shared/adapters/gcp/_clients.py: the one lazy-client set-up of the Google adapters."""

from __future__ import annotations

import threading
import time

from shared.adapters.gcp._clients import LazyClient


class Client:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_nothing_is_made_before_first_use_and_then_only_once_however_many_threads_ask() -> None:
    made: list[Client] = []

    def make() -> Client:
        time.sleep(0.05)  # a slow constructor: every thread arrives while the first is making it
        made.append(Client())
        return made[-1]

    lazy = LazyClient(make)
    assert made == []
    barrier = threading.Barrier(8)
    got: list[Client] = []

    def use() -> None:
        barrier.wait()
        got.append(lazy.get())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert got == made * 8


def test_close_closes_the_client_and_the_next_use_makes_a_fresh_one() -> None:
    lazy = LazyClient(Client)
    lazy.close(Client.close)  # nothing made yet: nothing to close, and no client made to close it
    first = lazy.get()
    lazy.close(Client.close)
    assert first.closed
    second = lazy.get()
    assert second is not first and not second.closed


def test_a_given_instance_is_used_instead_of_making_one() -> None:
    given = Client()

    def make() -> Client:
        raise AssertionError("not called")

    assert LazyClient(make, instance=given).get() is given
