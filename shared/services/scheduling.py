"""Runs nobody clicked for: scheduler ticks over every org, and backfills over a date range.

A tick may be delivered twice (Cloud Scheduler is at least once): every run it creates carries a
trigger key made of the job, its schedule time, the org and the day, and the store keeps one run
per key, so a repeated tick adds nothing. One org's failure is reported and the others go on.

A pipeline whose schedule has an ``invoice_close_cron`` also gets a monthly invoice-close tick:
after the invoice month closes it re-runs each day of that month with a source window reaching
the close, which picks up the rows the daily runs' window could not see.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain import identifiers
from shared.domain.orgs import Organization
from shared.domain.runs import PipelineRef, Run, iso, parse_iso, utcnow
from shared.errors import CloudActError, IntegrationNotConfigured, InvalidRequest, NotFound
from shared.logs import get_logger
from shared.pipelines import parameters
from shared.pipelines.config import INVOICE_CLOSE_WINDOW_PARAMETER
from shared.pipelines.schedule import covered_days, invoice_close_days
from shared.ports import Backend, DuplicateRun, RunFilter
from shared.services import integrations, submission

if TYPE_CHECKING:
    from shared.application import Application

log = get_logger("scheduling")
BACKFILL_FIELDS = {"start_date", "end_date", "force_refresh"}
TICK_FIELDS = {"pipeline", "invoice_close"}
MAX_SCHEDULE_SKEW_S = 7 * 24 * 3600


@dataclass(frozen=True)
class TickRequest:
    refs: list[PipelineRef] | None
    """None: every scheduled pipeline."""
    invoice_close: bool


def tick_request(body: Mapping[str, Any]) -> TickRequest:
    """A tick's body: an optional ``pipeline`` (provider/domain/name) and ``invoice_close`` flag."""
    unknown = sorted(set(body) - TICK_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])
    invoice_close = body.get("invoice_close", False)
    if not isinstance(invoice_close, bool):
        raise InvalidRequest("Invalid invoice_close: expected true or false", field="invoice_close")
    refs = None
    if "pipeline" in body:
        parts = str(body["pipeline"]).split("/")
        if len(parts) != 3:
            raise InvalidRequest("Invalid pipeline: expected provider/domain/name", field="pipeline")
        refs = [PipelineRef(*parts)]
    return TickRequest(refs=refs, invoice_close=invoice_close)


def schedule_time(raw: str | None, now: datetime, *, field: str) -> datetime:
    """The time a tick fires for: ``raw`` (RFC 3339) when given, else ``now``; ``field`` names where
    the caller read it, for the error."""
    try:
        fired_at = parse_iso(raw) if raw is not None else now
        # a firing is about now; anything far off is a mistake or a replay, and old days are a backfill's job
        if fired_at.tzinfo is None or abs((fired_at - now).total_seconds()) > MAX_SCHEDULE_SKEW_S:
            raise ValueError
    except (ValueError, OverflowError):
        raise InvalidRequest(f"Invalid {field}: expected an RFC 3339 time within a week of now", field=field) from None
    return fired_at


@dataclass
class TickReport:
    job: str
    schedule_time: str
    created: int = 0
    duplicates: int = 0
    orgs_without_integration: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "schedule_time": self.schedule_time,
            "runs_created": self.created,
            "duplicates": self.duplicates,
            "orgs_without_integration": self.orgs_without_integration,
            "failures": self.failures,
        }


def _trigger_key(job: str, schedule_time: datetime, ref: PipelineRef, org_slug: str, day: date) -> str:
    raw = f"{job}|{iso(schedule_time)}|{ref.path}|{org_slug}|{day.isoformat()}"
    return "tick:" + hashlib.sha256(raw.encode()).hexdigest()


def tick(
    app: Application,
    job: str,
    schedule_time: datetime,
    refs: list[PipelineRef] | None = None,
    *,
    invoice_close: bool = False,
) -> TickReport:
    """Queues, for every active org with the required integrations, one run per day of each
    scheduled pipeline's lookback window; or, for an invoice-close tick, one per day of the
    closed month, each reading its source up to the close."""
    report = TickReport(job=job, schedule_time=iso(schedule_time))
    backend = app.backend
    pipelines = [(ref, app.pipelines.load(ref)) for ref in refs or app.pipelines.scheduled()]
    orgs = [org for org in backend.store.list_orgs() if org.status == "active"]
    created: list[Run] = []
    for ref, pipeline in pipelines:
        if pipeline.schedule is None:
            raise InvalidRequest(f"Pipeline {ref.path} has no schedule", field="pipeline")
        if invoice_close:
            if pipeline.schedule.invoice_close_cron is None:
                raise InvalidRequest(f"Pipeline {ref.path} has no invoice-close run", field="invoice_close")
            closing = invoice_close_days(pipeline.schedule, schedule_time)
            work: list[tuple[date, dict[str, Any]]] = [
                (day, {"date": day.isoformat(), INVOICE_CLOSE_WINDOW_PARAMETER: window}) for day, window in closing
            ]
            today = closing[-1][0] + timedelta(days=closing[-1][1])  # the close
        else:
            days = covered_days(pipeline.schedule, schedule_time)
            work = [(day, {"date": day.isoformat()}) for day in days]
            today = days[0] + timedelta(days=1)
        for org in orgs:
            try:
                integrations.require(backend, org.slug, list(pipeline.required_integrations))
                for day, body in work:
                    values, _ = parameters.resolve(pipeline, body, today)
                    request = submission.RunRequest(
                        org.slug,
                        ref,
                        values,
                        trigger="scheduler",
                        trigger_key=_trigger_key(job, schedule_time, ref, org.slug, day),
                    )
                    try:
                        created.append(submission.record(backend, request))
                    except DuplicateRun:
                        report.duplicates += 1  # this tick already made it, or the day is running
            except IntegrationNotConfigured:
                report.orgs_without_integration += 1
            except CloudActError as exc:
                log.error(f"tick failed for one org: {exc.message}", extra={"org_slug": org.slug})
                report.failures.append({"org_slug": org.slug, "error": exc.message})
    refused = submission.queue(backend, created)
    report.created = len(created) - len(refused)
    report.failures += [{"org_slug": run.org_slug, "error": submission.QUEUE_FAILURE} for run in refused]
    log.info(f"tick {job} at {report.schedule_time}: {report.created} runs queued, {report.duplicates} duplicates")
    return report


@dataclass(frozen=True)
class Backfill:
    backfill_id: str
    runs: list[Run]
    already_active: dict[str, str]
    """Days that already had an active run: day -> that run's id (not duplicated)."""
    refused: list[Run]


def backfill(app: Application, org: Organization, ref: PipelineRef, body: dict[str, Any]) -> Backfill:
    unknown = sorted(set(body) - BACKFILL_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])
    backend, settings = app.backend, app.settings
    pipeline = app.pipelines.load(ref)
    date_parameter = pipeline.parameter("date")
    if date_parameter is None or date_parameter.type != "date":
        raise InvalidRequest(f"Pipeline {ref.path} has no date parameter to backfill over", field="pipeline")
    start = identifiers.iso_date(body.get("start_date"), "start_date")
    end = identifiers.iso_date(body.get("end_date"), "end_date")
    if end < start:
        raise InvalidRequest("Invalid end_date: before start_date", field="end_date")
    if start < parameters.EARLIEST_DATE:
        parameters.check_date(start, "start_date", start)
    span = (end - start).days + 1
    if span > settings.max_backfill_days:
        raise InvalidRequest(
            f"Invalid end_date: at most {settings.max_backfill_days} days per backfill", field="end_date"
        )
    force_refresh = body.get("force_refresh", False)
    if not isinstance(force_refresh, bool):
        raise InvalidRequest("Invalid force_refresh: expected true or false", field="force_refresh")
    integrations.require(backend, org.slug, list(pipeline.required_integrations))
    today = utcnow().date()
    if pipeline.source_history_days is not None:
        earliest = today - timedelta(days=pipeline.source_history_days)
        if start < earliest:
            raise InvalidRequest(
                f"Invalid start_date: the source of {ref.path} answers only the last"
                f" {pipeline.source_history_days} days (from {earliest.isoformat()})",
                field="start_date",
            )
    days = [start + timedelta(days=offset) for offset in range(span)]
    resolved = [parameters.resolve(pipeline, {"date": day.isoformat()}, today)[0] for day in days]  # all valid first

    backfill_id = str(uuid.uuid4())
    runs: list[Run] = []
    already_active: dict[str, str] = {}
    for day, values in zip(days, resolved, strict=True):
        request = submission.RunRequest(
            org.slug, ref, values, trigger="backfill", force_refresh=force_refresh, parent_id=backfill_id
        )
        try:
            runs.append(submission.record(backend, request))
        except DuplicateRun as duplicate:
            already_active[day.isoformat()] = duplicate.existing.run_id
    refused = submission.queue(backend, runs)
    log.info(f"backfill {backfill_id}: {len(runs)} runs for {ref.path}", extra={"org_slug": org.slug})
    return Backfill(backfill_id, runs, already_active, refused)


def backfill_progress(backend: Backend, org: Organization, backfill_id: str) -> dict[str, Any]:
    if not identifiers.RUN_ID.fullmatch(backfill_id):
        raise NotFound("Backfill not found")
    runs: list[Run] = []
    token = None
    while True:
        page = backend.store.list_runs(RunFilter(org.slug, parent_id=backfill_id, page_size=100, page_token=token))
        runs += page.runs
        token = page.next_page_token
        if not token:
            break
    if not runs:  # another org's backfill is not found either
        raise NotFound("Backfill not found")
    counts = Counter(str(run.status) for run in runs)
    return {
        "backfill_id": backfill_id,
        "total": len(runs),
        "counts": {status: counts.get(status, 0) for status in ("PENDING", "RUNNING", "COMPLETE", "FAILED")},
        "done": counts["COMPLETE"] + counts["FAILED"] == len(runs),
        "runs": [
            {
                "date": run.parameters.get("date"),
                "pipeline_logging_id": run.run_id,
                "status": str(run.status),
                "rows_processed": run.rows_processed,
                "skip_reason": run.skip_reason,
                "warnings": list(run.warnings),
                "error_message": run.error_message,
            }
            for run in sorted(runs, key=lambda run: str(run.parameters.get("date")))
        ],
    }
