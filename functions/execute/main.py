"""execute: run one queued pipeline run. Two entry points, one per way Pub/Sub can deliver:

- ``execute`` (CloudEvent, Pub/Sub ``messagePublished`` through an Eventarc trigger);
- ``execute_push`` (HTTP, a push subscription POSTing ``{"message": {...}, "subscription": ...}``).

Acknowledging means returning (CloudEvent) or answering 204 (push); a 503 asks Pub/Sub to deliver
the message again. Only transient errors ask for that: a run that failed for good is recorded
FAILED and acknowledged, so nothing loops. When the worker knows how long to wait (the run is held
under another worker's lease) the 503 carries ``Retry-After``: the local queue honours it; Pub/Sub
ignores it and applies the subscription's backoff (docs/deploy.md: how the lease and the backoff
line up).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Request, Response

from shared import application

if TYPE_CHECKING:
    from shared.domain.runs import RunMessage


def _run_message(data: Any) -> RunMessage | None:
    """The run message from a ``{"message": {"data": <base64 JSON>}}`` envelope (a CloudEvent's data
    or a push body); None if it is not one."""
    from shared.domain.runs import RunMessage
    from shared.json_input import loads_untrusted

    try:
        encoded = data["message"]["data"]
        fields = loads_untrusted(base64.b64decode(encoded, validate=True))
        return RunMessage(**fields) if isinstance(fields, dict) else None
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


@functions_framework.cloud_event
def execute(cloud_event: CloudEvent) -> None:
    from shared.errors import TransientError
    from shared.logs import get_logger
    from shared.services import execution

    message = _run_message(cloud_event.data)
    if message is None:
        get_logger("execute").error("unreadable run message dropped")
        return
    try:
        execution.execute_run(application.current(), message)
    except TransientError as exc:
        # an HTTP error rather than an exception: the retry is expected, so no stack trace in the
        # logs (execution already logged why)
        raise ServiceUnavailable("transient failure; redeliver", retry_after=execution.retry_after_s(exc)) from None


@functions_framework.http
def execute_push(request: Request) -> Response:
    from shared.errors import TransientError
    from shared.json_input import UntrustedJsonError, loads_untrusted
    from shared.logs import get_logger
    from shared.services import execution

    # a push body is the same {"message": {"data": ...}} envelope as a CloudEvent's data
    try:
        envelope = loads_untrusted(request.get_data())
    except UntrustedJsonError:
        envelope = None
    message = _run_message(envelope)
    if message is None:
        # acknowledged: an unreadable message stays unreadable, redelivering it cannot help
        get_logger("execute").error("unreadable run message dropped")
        return Response(status=204)
    try:
        execution.execute_run(application.current(), message)
    except TransientError as exc:
        # a nack: Pub/Sub redelivers after the subscription's backoff
        wait = execution.retry_after_s(exc)
        return Response(status=503, headers={"Retry-After": str(wait)} if wait else None)
    return Response(status=204)
