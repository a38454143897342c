"""Executing a queued run: claim it, run its steps, record the outcome.

Delivery is at least once, so everything here tolerates repeats: a run is claimed with a
compare-and-set (only one worker wins), and every later write is conditional on still holding that
claim. A delivery that finds its run finished is acknowledged and does nothing. One that finds it
RUNNING under another worker's lease is *not* acknowledged: that worker may have died, and then
this message is the only thing that will ever finish the run; it asks to come back once the lease
has run out (``RunHeld``), when it either finds the run finished or claims it.

The return value tells the caller to acknowledge; a raised ``TransientError`` asks for redelivery.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.domain.integrations import IntegrationSecret
from shared.domain.runs import ACTIVE, Run, RunMessage, RunStatus, iso, parse_iso, utcnow
from shared.errors import CloudActError, TerminalError, TransientError
from shared.logs import get_logger
from shared.pipelines import parameters
from shared.pipelines.context import StepContext
from shared.pipelines.runner import RunResult, run_pipeline
from shared.ports import Backend, OrgAtCapacity
from shared.services import history, integrations

if TYPE_CHECKING:
    from shared.application import Application

log = get_logger("execution")


class Outcome(StrEnum):
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    DUPLICATE = "DUPLICATE"
    """Already claimed or finished by another delivery: acknowledged, nothing done."""
    DROPPED = "DROPPED"
    """Unreadable message or unknown run: acknowledged, since retrying cannot help."""


class ClaimLost(TerminalError):
    """Another worker (or the reaper) took the run: stop, and write nothing more."""


class RunHeld(TransientError):
    """The run is RUNNING under another worker's unexpired lease: deliver this message again after
    ``retry_after_s``, when the lease has run out (the queue's backoff may make it later)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after_s(error: TransientError) -> int | None:
    """How long the queue should wait before redelivering, when the error knows; else its backoff."""
    return error.retry_after_s if isinstance(error, RunHeld) else None


def _lease_left_s(run: Run, now: datetime) -> float:
    if run.status is not RunStatus.RUNNING or not run.lease_expires_at:
        return 0.0
    return (parse_iso(run.lease_expires_at) - now).total_seconds()


def execute_run(app: Application, message: RunMessage) -> Outcome:
    backend, settings = app.backend, app.settings
    context: dict[str, Any] = {"run_id": message.run_id, "org_slug": message.org_slug}
    run = backend.store.get_run(message.run_id)
    if run is None or run.org_slug != message.org_slug:
        log.warning("message for an unknown run dropped", extra=context)
        return Outcome.DROPPED
    context["pipeline"] = run.pipeline_id
    now = utcnow()
    if (now - parse_iso(run.requested_at)).total_seconds() > settings.max_event_age_s:
        # past the retry window: running it now would surprise whoever asked, so close it instead
        log.warning("run message older than the retry window dropped", extra=context)
        fail_open_run(backend, run.run_id, "run message expired before it could be executed")
        return Outcome.DROPPED
    token = uuid.uuid4().hex
    lease = timedelta(seconds=settings.run_lease_s)
    try:
        claimed = backend.store.claim_run(
            run.run_id, token, iso(now), iso(now + lease), max_running=settings.max_running_per_org
        )
    except OrgAtCapacity:
        # fairness between tenants: this org's other runs finish first; the queue's backoff paces us
        log.info("org at its concurrent-run limit; delivery deferred", extra=context)
        raise TransientError("organization at its concurrent-run limit") from None
    if claimed is None:
        current = backend.store.get_run(run.run_id) or run
        if current.status in ACTIVE:
            # held by a worker that may be alive or dead (or just taken by a concurrent delivery):
            # acknowledging now would leave a dead worker's run to the reaper, so come back later
            wait = max(1, math.ceil(_lease_left_s(current, now)) + 1)
            log.info(f"run is {current.status} under another claim; redelivery in {wait}s", extra=context)
            raise RunHeld("run is held by another worker", retry_after_s=wait)
        log.info(f"duplicate delivery ignored: run is {current.status}", extra=context)
        return Outcome.DUPLICATE
    context["attempt"] = claimed.attempt
    log.info("run started", extra=context)

    def heartbeat() -> None:
        extended = backend.store.update_run(
            claimed.run_id,
            expected_status=RunStatus.RUNNING,
            claim_token=token,
            changes={"lease_expires_at": iso(utcnow() + lease)},
        )
        if extended is None:
            raise ClaimLost("claim lost")

    result: RunResult | None = None
    try:
        org = backend.store.get_org(claimed.org_slug)
        if org is None:
            raise TerminalError("Organization not found")
        pipeline = app.pipelines.load(claimed.ref)
        secrets: dict[str, IntegrationSecret] = {
            kind: integrations.unseal(backend, org.slug, kind) for kind in pipeline.required_integrations
        }
        ctx = StepContext(
            run=claimed,
            org=org,
            pipeline=pipeline,
            parameters=parameters.typed(pipeline, claimed.parameters),
            integrations=secrets,
            warehouses=backend.warehouses,
            settings=app.settings,
            heartbeat=heartbeat,
            previous=backend.store.last_complete_run(claimed.dedupe_key),
        )
        result = run_pipeline(ctx)
        if result.failure is not None:
            raise result.failure
    except ClaimLost:
        log.warning("claim lost mid-run; stopping without writing", extra=context)
        return Outcome.DUPLICATE
    except TransientError as exc:
        # give the run back so the redelivery can claim it; then ask for that redelivery
        backend.store.update_run(
            claimed.run_id,
            expected_status=RunStatus.RUNNING,
            claim_token=token,
            changes={"status": RunStatus.PENDING, "claim_token": None, "lease_expires_at": None},
        )
        log.warning(f"transient failure, will retry: {exc.message}", extra=context)
        raise
    except CloudActError as exc:
        return _finish_failed(backend, claimed, token, exc.message, result, context)
    except Exception as exc:  # a bug: retrying would fail the same way, so fail the run and say little
        log.error("run failed on an unexpected error", extra=context, exc_info=exc)
        return _finish_failed(backend, claimed, token, f"internal error ({type(exc).__name__})", result, context)

    assert result is not None
    rows = result.rows
    outcome = _finish(
        backend,
        claimed,
        token,
        RunStatus.COMPLETE,
        {
            "rows_processed": rows,
            "bytes_processed": sum(step.bytes_processed for step in result.steps),
            "steps": result.steps,
            "error_message": None,
            "source_watermark": result.watermark,
            "skip_reason": result.skip_reason,
            "warnings": result.warnings,
        },
        context,
    )
    if outcome is Outcome.COMPLETE:
        log.info("run complete", extra={**context, "rows": rows})
    return outcome


def _finish_failed(
    backend: Backend, run: Run, token: str, reason: str, result: RunResult | None, context: dict[str, Any]
) -> Outcome:
    changes = {
        "error_message": f"Pipeline execution failed: {reason}",
        "steps": result.steps if result else (),
        "rows_processed": 0,
    }
    outcome = _finish(backend, run, token, RunStatus.FAILED, changes, context)
    if outcome is Outcome.FAILED:
        log.warning(f"run failed: {reason}", extra=context)
    return outcome


def _finish(
    backend: Backend, run: Run, token: str, status: RunStatus, changes: dict[str, Any], context: dict[str, Any]
) -> Outcome:
    """Records the outcome, if this worker still holds the claim, and appends it to the history."""
    ended = utcnow()
    started = parse_iso(run.start_time) if run.start_time else ended
    finished = backend.store.update_run(
        run.run_id,
        expected_status=RunStatus.RUNNING,
        claim_token=token,
        changes={
            "status": status,
            "end_time": iso(ended),
            "duration_ms": int((ended - started).total_seconds() * 1000),
            "lease_expires_at": None,
            **changes,
        },
    )
    if finished is None:
        log.warning(f"claim lost before the run could be recorded {status}", extra=context)
        return Outcome.DUPLICATE
    _record_history(backend, finished, context)
    return Outcome(str(status))


def fail_open_run(
    backend: Backend, run_id: str, reason: str, *, only_if: tuple[RunStatus, str | None] | None = None
) -> Run | None:
    """PENDING or RUNNING -> FAILED; None if the run had already finished.

    ``only_if`` narrows it to one status and claim, so a run reclaimed in the meantime is left alone.
    """
    candidates = [only_if] if only_if else [(RunStatus.PENDING, None), (RunStatus.RUNNING, None)]
    for status, claim_token in candidates:
        failed = backend.store.update_run(
            run_id,
            expected_status=status,
            claim_token=claim_token,
            changes={
                "status": RunStatus.FAILED,
                "end_time": iso(utcnow()),
                "error_message": f"Pipeline execution failed: {reason}",
                "claim_token": None,
                "lease_expires_at": None,
            },
        )
        if failed is not None:
            _record_history(backend, failed, {"run_id": run_id, "org_slug": failed.org_slug})
            return failed
    return None


def fail_undeliverable(backend: Backend, message: RunMessage, attempts: int) -> None:
    """Called when a run's message is dead-lettered: the run must not stay open forever. A run still
    under a live lease is left to its worker (or, if that worker died, to the reaper after the lease):
    giving up on the message must not fail a run that is being executed."""
    run = backend.store.get_run(message.run_id)
    if run is not None and _lease_left_s(run, utcnow()) > 0:
        log.warning("run message dead-lettered while the run is held", extra={"run_id": message.run_id})
        return
    if fail_open_run(backend, message.run_id, f"gave up after {attempts} delivery attempts"):
        log.error("run dead-lettered", extra={"run_id": message.run_id, "org_slug": message.org_slug})


def _record_history(backend: Backend, run: Run, context: dict[str, Any]) -> None:
    # the run record is already final; a lost analytics row must not turn into a retry loop
    try:
        history.record(backend.warehouses.platform(), run)
    except CloudActError as exc:
        log.error(f"run history not written: {exc.message}", extra=context)
