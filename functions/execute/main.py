"""execute (CloudEvent, Pub/Sub messagePublished): run one queued pipeline run.

Return acknowledges the message; raising asks Pub/Sub to deliver it again. Only transient errors
raise: a run that failed for good is recorded FAILED and acknowledged, so nothing loops.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def execute(cloud_event: CloudEvent) -> None:
    from shared import runtime
    from shared.logs import get_logger
    from shared.services import execution
    from shared.settings import get_settings

    message = execution.decode_pubsub_data(cloud_event.data)
    if message is None:
        get_logger("execute").error("unreadable run message dropped", extra={"run_id": None})
        return
    execution.execute_run(runtime.backend(), get_settings(), message)
