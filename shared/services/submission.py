"""Accepting runs: validate everything, record them PENDING, queue them.

One run (the API) or many (a scheduler tick, a backfill) go through the same two moves: record
(the store refuses duplicates atomically) and queue (a run the queue refused is closed at once,
never left PENDING).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.domain.orgs import Organization
from shared.domain.runs import TRIGGERS, PipelineRef, Run, RunMessage, RunStatus, dedupe_key, iso, utcnow
from shared.errors import Conflict, TransientError
from shared.logs import get_logger
from shared.pipelines import parameters
from shared.ports import Backend, DuplicateRun
from shared.services import integrations

if TYPE_CHECKING:
    from shared.application import Application

log = get_logger("submission")
QUEUE_FAILURE = "Run could not be queued"


@dataclass(frozen=True)
class RunRequest:
    org_slug: str
    ref: PipelineRef
    parameters: dict[str, Any]
    """Resolved and validated (``parameters.resolve``)."""
    trigger: str = "api"
    force_refresh: bool = False
    parent_id: str | None = None
    trigger_key: str | None = None

    def new_run(self) -> Run:
        assert self.trigger in TRIGGERS
        return Run(
            run_id=str(uuid.uuid4()),
            pipeline_id=self.ref.pipeline_id(self.org_slug),
            org_slug=self.org_slug,
            provider=self.ref.provider,
            domain=self.ref.domain,
            pipeline=self.ref.pipeline,
            parameters=self.parameters,
            trigger=self.trigger,
            requested_at=iso(utcnow()),
            dedupe_key=dedupe_key(self.org_slug, self.ref, self.parameters),
            force_refresh=self.force_refresh,
            parent_id=self.parent_id,
            trigger_key=self.trigger_key,
        )


def record(backend: Backend, request: RunRequest) -> Run:
    """Stores the new run PENDING; raises DuplicateRun with the run that already covers it."""
    run = request.new_run()
    backend.store.create_run(run)
    return run


def _close_unqueued(backend: Backend, run: Run, error: Exception) -> None:
    # the record exists but nothing will execute it: close it now rather than leave it PENDING
    backend.store.update_run(
        run.run_id,
        expected_status=RunStatus.PENDING,
        claim_token=None,
        changes={"status": RunStatus.FAILED, "end_time": iso(utcnow()), "error_message": QUEUE_FAILURE},
    )
    context = {"run_id": run.run_id, "org_slug": run.org_slug, "pipeline": run.pipeline_id}
    log.error("run could not be queued", extra=context, exc_info=error)


def queue(backend: Backend, runs: Sequence[Run], batch_size: int = 500) -> list[Run]:
    """Publishes in batches; returns the runs that could not be queued (now FAILED)."""
    refused = []
    for start in range(0, len(runs), batch_size):
        batch = runs[start : start + batch_size]
        results = backend.queue.publish_many([RunMessage.from_run(run) for run in batch])
        for run, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                _close_unqueued(backend, run, result)
                refused.append(run)
    return refused


def submit_run(
    app: Application,
    org: Organization,
    ref: PipelineRef,
    body: dict[str, Any],
    *,
    today: date | None = None,
) -> Run:
    """One run from the API: 409 if the same run is active, 503 if it could not be queued."""
    backend = app.backend
    pipeline = app.pipelines.load(ref)
    values, options = parameters.resolve(pipeline, body, today or utcnow().date())
    integrations.require(backend, org.slug, list(pipeline.required_integrations))
    try:
        run = record(backend, RunRequest(org.slug, ref, values, force_refresh=options["force_refresh"]))
    except DuplicateRun as duplicate:
        existing = duplicate.existing
        raise Conflict(
            f"A run of {ref.path} with the same parameters is already {existing.status}",
            pipeline_logging_id=existing.run_id,
        ) from None
    try:
        backend.queue.publish(RunMessage.from_run(run))
    except Exception as exc:
        _close_unqueued(backend, run, exc)
        raise TransientError(f"{QUEUE_FAILURE}; please retry") from None
    log.info("run accepted", extra={"run_id": run.run_id, "org_slug": org.slug, "pipeline": run.pipeline_id})
    return run
