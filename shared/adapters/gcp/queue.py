"""RunQueue on Pub/Sub (``google-cloud-pubsub``): publish a run message to the runs topic.

The message is ``RunMessage.to_json()`` with ``RunMessage.attributes()`` (org, run id, pipeline),
so a subscription filter or a log query can pick runs without decoding data. ``publish`` returns
only once Pub/Sub has stored the message (its id is in hand), waiting at most the retry budget (``PUBLISH_RETRY``).

Delivery to the execute function is the subscription's business (Terraform: push or Eventarc
trigger, retry policy, dead-letter topic); this adapter is the publisher side only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.domain.runs import RunMessage
from shared.errors import CloudActError

from ._clients import LazyClient
from .errors import RetryPolicy, is_retryable_grpc, translate

PUBLISH_RETRY = RetryPolicy(initial_s=0.1, maximum_s=2.0, multiplier=2.0, deadline_s=20.0)
"""Retries of one publish RPC on UNAVAILABLE, DEADLINE_EXCEEDED and kin. 20 s: the submit caller
is waiting on an HTTP response, and a run that cannot be queued is better failed and answered 503
(the client retries) than held past the client's own timeout."""

PUBLISH_RPC_TIMEOUT_S = 10.0
"""One publish RPC; a stalled connection is abandoned and retried within ``PUBLISH_RETRY``."""

PUBLISH_BATCH_MARGIN_S = 5.0
"""Waiting for a publish future: the retry budget plus this (batching, thread hand-off), then
give up."""


class PubSubRunQueue:
    def __init__(self, project: str, topic: str, *, retry: RetryPolicy = PUBLISH_RETRY) -> None:
        self.project = project
        self.topic = topic
        self.retry = retry
        self._publisher: LazyClient[Any] = LazyClient(self._new_publisher)

    def _new_publisher(self) -> Any:
        from google.cloud.pubsub_v1 import PublisherClient, types

        # PUBSUB_EMULATOR_HOST, when set, is honoured by the client itself
        return PublisherClient(
            publisher_options=types.PublisherOptions(
                retry=self.retry.to_retry(is_retryable_grpc),
                timeout=min(PUBLISH_RPC_TIMEOUT_S, self.retry.deadline_s),
            )
        )

    def _client(self) -> Any:
        return self._publisher.get()

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    def _submit(self, message: RunMessage) -> Any:
        return self._client().publish(self.topic_path, message.to_json(), **message.attributes())

    def _message_id(self, future: Any) -> str:
        try:
            return str(future.result(timeout=self.retry.deadline_s + PUBLISH_BATCH_MARGIN_S))
        except Exception as exc:
            # the publisher gave up (or we stopped waiting): a retry may go through. A message
            # that did reach Pub/Sub after all is harmless: its run was failed by the caller, and
            # the execute function acknowledges a finished run's message without running it.
            raise translate(exc, "Run could not be queued", show_detail=False) from exc

    def publish(self, message: RunMessage) -> str:
        try:
            future = self._submit(message)
        except Exception as exc:
            raise translate(exc, "Run could not be queued", show_detail=False) from exc
        return self._message_id(future)

    def publish_many(self, messages: Sequence[RunMessage]) -> list[str | Exception]:
        """All messages handed to the publisher first (it batches them), then each one's outcome."""
        futures: list[Any] = []
        for message in messages:
            try:
                futures.append(self._submit(message))
            except Exception as exc:
                futures.append(translate(exc, "Run could not be queued", show_detail=False))
        outcomes: list[str | Exception] = []
        for future in futures:
            if isinstance(future, CloudActError):
                outcomes.append(future)
                continue
            try:
                outcomes.append(self._message_id(future))
            except CloudActError as exc:
                outcomes.append(exc)
        return outcomes

    def close(self) -> None:
        """Sends what is batched and stops the publisher's thread."""
        self._publisher.close(lambda publisher: publisher.stop())
