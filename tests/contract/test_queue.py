"""The RunQueue contract (the publisher side every submit uses): one suite, run against the SQLite
queue and the Pub/Sub queue (on Google's Pub/Sub emulator). Every assertion holds for both."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.domain.runs import RunMessage
from shared.errors import CloudActError, TerminalError, TransientError
from shared.ports import RunQueue
from tests.gcp_emulators import (
    Emulator,
    free_port,
    pubsub_create_subscription,
    pubsub_create_topic,
    pubsub_pull,
    unique_project,
)


@dataclass
class Received:
    message_id: str
    data: bytes
    attributes: dict[str, str]


@dataclass
class QueueUnderTest:
    queue: RunQueue
    receive: Callable[[int, float], list[Received]]
    """Takes (and acknowledges) up to n messages from the queue's consumer side, waiting at most
    the given seconds for them."""


@pytest.fixture(params=["sqlite", "pubsub"])
def queue(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueueUnderTest]:
    if request.param == "sqlite":
        from shared.adapters.local.queue import SqliteRunQueue

        local = SqliteRunQueue(tmp_path / "queue.sqlite")

        def pull_local(expected: int, timeout_s: float = 0) -> list[Received]:
            deliveries = local.pull(max_messages=expected)
            for delivery in deliveries:
                local.ack(delivery.message_id)
            return [Received(d.message_id, d.data, d.attributes) for d in deliveries]

        yield QueueUnderTest(local, pull_local)
        return

    from shared.adapters.gcp.queue import PubSubRunQueue

    emulator: Emulator = request.getfixturevalue("pubsub_emulator")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host_port)
    project = unique_project()
    pubsub_create_topic(emulator, project, "pipeline-runs")
    pubsub_create_subscription(emulator, project, "pipeline-runs", "pipeline-runs-execute")
    pubsub = PubSubRunQueue(project, "pipeline-runs")

    def pull_pubsub(expected: int, timeout_s: float = 10.0) -> list[Received]:
        messages = pubsub_pull(emulator, project, "pipeline-runs-execute", expected, timeout_s)
        return [
            Received(str(m["messageId"]), base64.b64decode(str(m["data"])), dict(m.get("attributes") or {}))  # type: ignore[call-overload]
            for m in messages
        ]

    yield QueueUnderTest(pubsub, pull_pubsub)
    pubsub.close()


def message(org: str = "acme", day: str = "2026-01-01") -> RunMessage:
    return RunMessage(
        run_id=str(uuid.uuid4()),
        org_slug=org,
        provider="gcp",
        domain="cost",
        pipeline="billing",
        parameters={"date": day},
        trigger="api",
        requested_at="2026-01-02T04:00:00.000Z",
    )


def test_a_published_message_arrives_whole_under_its_id(queue: QueueUnderTest) -> None:
    sent = message()
    message_id = queue.queue.publish(sent)
    assert isinstance(message_id, str) and message_id
    [received] = queue.receive(1, 10.0)
    assert received.message_id == message_id
    assert received.data == sent.to_json()
    assert RunMessage(**json.loads(received.data)) == sent
    assert received.attributes == {"org_slug": "acme", "run_id": sent.run_id, "pipeline": "gcp/cost/billing"}


def test_each_publish_is_its_own_message(queue: QueueUnderTest) -> None:
    sent = [message(day=f"2026-01-0{day}") for day in range(1, 4)]
    ids = [queue.queue.publish(item) for item in sent]
    assert len(set(ids)) == 3
    received = queue.receive(3, 10.0)
    assert sorted(r.message_id for r in received) == sorted(ids)
    assert sorted(r.data for r in received) == sorted(item.to_json() for item in sent)


def test_publish_many_answers_each_message_in_order(queue: QueueUnderTest) -> None:
    sent = [message(org=f"org_{n}") for n in range(5)]
    outcomes = queue.queue.publish_many(sent)
    assert len(outcomes) == 5 and all(isinstance(outcome, str) for outcome in outcomes)
    by_id = {r.message_id: r for r in queue.receive(5, 10.0)}
    for item, outcome in zip(sent, outcomes, strict=True):
        assert by_id[str(outcome)].attributes["run_id"] == item.run_id


def test_nothing_is_delivered_that_was_not_published(queue: QueueUnderTest) -> None:
    assert queue.receive(1, 0.5) == []
    queue.queue.publish(message())
    assert len(queue.receive(2, 1.0)) == 1


# -- Pub/Sub only: its failure modes -------------------------------------------------------------
def test_publishing_to_a_missing_topic_is_a_terminal_error(
    pubsub_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.gcp.queue import PubSubRunQueue

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host_port)
    queue = PubSubRunQueue(unique_project(), "no-such-topic")
    started = time.monotonic()
    with pytest.raises(TerminalError):
        queue.publish(message())
    assert time.monotonic() - started < 15
    outcomes = queue.publish_many([message(), message()])
    assert all(isinstance(outcome, TerminalError) for outcome in outcomes)
    queue.close()


def test_an_unreachable_pubsub_is_a_transient_error_within_the_retry_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters.gcp.errors import RetryPolicy
    from shared.adapters.gcp.queue import PUBLISH_BATCH_MARGIN_S, PubSubRunQueue

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    budget = RetryPolicy(initial_s=0.05, maximum_s=0.2, multiplier=2, deadline_s=1.0)
    queue = PubSubRunQueue(unique_project(), "pipeline-runs", retry=budget)
    started = time.monotonic()
    with pytest.raises(TransientError) as raised:
        queue.publish(message())
    elapsed = time.monotonic() - started
    assert elapsed < budget.deadline_s + PUBLISH_BATCH_MARGIN_S + 2
    # the caller's message (it ends up in logs and an HTTP 503) names no host, topic or payload
    assert raised.value.message.startswith("Run could not be queued")
    queue.close()


def test_errors_are_project_errors_not_vendor_types(pubsub_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters.gcp.queue import PubSubRunQueue

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host_port)
    queue = PubSubRunQueue(unique_project(), "no-such-topic")
    caught: Any = None
    try:
        queue.publish(message())
    except Exception as exc:  # what a caller without vendor knowledge sees
        caught = exc
    assert isinstance(caught, CloudActError)
    assert not type(caught).__module__.startswith("google")
    queue.close()
