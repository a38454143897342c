"""Accepting a run: validate everything, record it PENDING, queue it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from shared.domain.orgs import Organization
from shared.domain.runs import TRIGGERS, PipelineRef, Run, RunMessage, RunStatus, dedupe_key, iso, utcnow
from shared.errors import Conflict, TransientError
from shared.logs import get_logger
from shared.pipelines import config as pipeline_config
from shared.pipelines import parameters
from shared.ports import Backend, DuplicateRun
from shared.services import integrations
from shared.settings import Settings

log = get_logger("submission")


def submit_run(
    backend: Backend,
    settings: Settings,
    org: Organization,
    ref: PipelineRef,
    body: dict[str, Any],
    *,
    trigger: str = "api",
    today: date | None = None,
) -> Run:
    assert trigger in TRIGGERS
    pipeline = pipeline_config.load(settings.configs_dir, ref)
    now = utcnow()
    values, options = parameters.resolve(pipeline, body, today or now.date())
    integrations.require(backend, org.slug, list(pipeline.required_integrations))
    run = Run(
        pipeline_logging_id=str(uuid.uuid4()),
        pipeline_id=ref.pipeline_id(org.slug),
        org_slug=org.slug,
        provider=ref.provider,
        domain=ref.domain,
        pipeline=ref.pipeline,
        parameters=values,
        trigger=trigger,
        requested_at=iso(now),
        dedupe_key=dedupe_key(org.slug, ref, values),
        force_refresh=options["force_refresh"],
    )
    try:
        backend.store.create_run(run)
    except DuplicateRun as duplicate:
        existing = duplicate.existing
        raise Conflict(
            f"A run of {ref.path} with the same parameters is already {existing.status}",
            pipeline_logging_id=existing.pipeline_logging_id,
        ) from None
    context = {"run_id": run.pipeline_logging_id, "org_slug": org.slug, "pipeline": run.pipeline_id}
    try:
        backend.queue.publish(RunMessage.from_run(run))
    except Exception as exc:
        # the record exists but nothing will execute it: close it now rather than leave it PENDING
        backend.store.update_run(
            run.pipeline_logging_id,
            expected_status=RunStatus.PENDING,
            claim_token=None,
            changes={"status": RunStatus.FAILED, "end_time": iso(utcnow()), "error_message": "Run could not be queued"},
        )
        log.error("run could not be queued", extra=context, exc_info=exc)
        raise TransientError("Run could not be queued; please retry") from None
    log.info("run accepted", extra=context)
    return run
