"""Closing runs that nothing will finish.

A worker that dies mid-run leaves its run RUNNING; a process that dies between recording a run and
publishing it leaves it PENDING. Redelivery reclaims the first kind once its lease has expired; the
reaper fails whatever is still open well after that, with the reason, so no run stays open forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.domain.runs import RunStatus, iso, utcnow
from shared.logs import get_logger
from shared.services.execution import fail_open_run

if TYPE_CHECKING:
    from shared.application import Application

log = get_logger("reaper")


def reap(app: Application, now: datetime | None = None) -> list[str]:
    """Fails stale runs; returns their ids."""
    backend, settings = app.backend, app.settings
    now = now or utcnow()
    stale = backend.store.find_stale_runs(
        lease_expired_before=iso(now - timedelta(seconds=settings.reaper_grace_s)),
        requested_before=iso(now - timedelta(seconds=settings.pending_timeout_s)),
    )
    reaped = []
    for run in stale:
        if run.status is RunStatus.RUNNING:
            reason = f"worker stopped without finishing (no heartbeat since lease ended at {run.lease_expires_at})"
        else:
            reason = "run was never delivered to a worker"
        if fail_open_run(backend, run.run_id, reason, only_if=(run.status, run.claim_token)):
            log.warning(f"stale run failed: {reason}", extra={"run_id": run.run_id, "org_slug": run.org_slug})
            reaped.append(run.run_id)
    return reaped
