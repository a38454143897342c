"""execute: run one queued pipeline run. Two entry points, one per way Pub/Sub can deliver:

- ``execute`` (CloudEvent, Pub/Sub ``messagePublished`` through an Eventarc trigger);
- ``execute_push`` (HTTP, a push subscription POSTing ``{"message": {...}, "subscription": ...}``).

Acknowledging means returning (CloudEvent) or answering 204 (push); a 503 asks Pub/Sub to deliver
the message again. Only transient errors ask for that: a run that failed for good is recorded
FAILED and acknowledged, so nothing loops.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Request, Response


@functions_framework.cloud_event
def execute(cloud_event: CloudEvent) -> None:
    from shared import runtime
    from shared.errors import TransientError
    from shared.logs import get_logger
    from shared.services import execution
    from shared.settings import get_settings

    message = execution.decode_pubsub_data(cloud_event.data)
    if message is None:
        get_logger("execute").error("unreadable run message dropped")
        return
    try:
        execution.execute_run(runtime.backend(), get_settings(), message)
    except TransientError:
        # an HTTP error rather than an exception: the retry is expected, so no stack trace in the
        # logs (execution already logged why)
        raise ServiceUnavailable("transient failure; redeliver") from None


@functions_framework.http
def execute_push(request: Request) -> Response:
    from shared import runtime
    from shared.errors import TransientError
    from shared.logs import get_logger
    from shared.services import execution
    from shared.settings import get_settings

    # a push body is the same {"message": {"data": ...}} envelope as a CloudEvent's data
    message = execution.decode_pubsub_data(request.get_json(silent=True))
    if message is None:
        # acknowledged: an unreadable message stays unreadable, redelivering it cannot help
        get_logger("execute").error("unreadable run message dropped")
        return Response(status=204)
    try:
        execution.execute_run(runtime.backend(), get_settings(), message)
    except TransientError:
        return Response(status=503)  # a nack: Pub/Sub redelivers after the subscription's backoff
    return Response(status=204)
