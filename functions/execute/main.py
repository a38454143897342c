"""execute (CloudEvent, Pub/Sub messagePublished): run one queued pipeline run.

Returning acknowledges the message; a 503 asks Pub/Sub to deliver it again. Only transient errors
ask for that: a run that failed for good is recorded FAILED and acknowledged, so nothing loops.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import ServiceUnavailable


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
