"""Pipeline runs and their life cycle: PENDING -> RUNNING -> COMPLETE | FAILED."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


ACTIVE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
TERMINAL = frozenset({RunStatus.COMPLETE, RunStatus.FAILED})
TRIGGERS = frozenset({"api", "scheduler", "backfill"})
RECORD_RUN_ID = "pipeline_logging_id"
"""The run id's name in the API and the run record (the source document's); inside, it is ``run_id``."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str
    rows: int = 0
    bytes_processed: int = 0
    bytes_billed: int = 0
    duration_ms: int = 0


@dataclass(frozen=True)
class PipelineRef:
    provider: str
    domain: str
    pipeline: str

    @property
    def path(self) -> str:
        return f"{self.provider}/{self.domain}/{self.pipeline}"

    def pipeline_id(self, org_slug: str) -> str:
        # The seed's example: gcp/cost/billing for acmecorp is "acmecorp-gcp-billing".
        return f"{org_slug}-{self.provider}-{self.pipeline}"


@dataclass(frozen=True)
class Run:
    run_id: str
    """The API's and the run record's ``pipeline_logging_id`` (see ``public`` and ``to_record``)."""
    pipeline_id: str
    org_slug: str
    provider: str
    domain: str
    pipeline: str
    parameters: dict[str, Any]
    trigger: str
    requested_at: str
    dedupe_key: str
    status: RunStatus = RunStatus.PENDING
    force_refresh: bool = False
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: int | None = None
    rows_processed: int | None = None
    bytes_processed: int | None = None
    error_message: str | None = None
    steps: tuple[StepResult, ...] = ()
    attempt: int = 0
    parent_id: str | None = None
    """The backfill this run belongs to."""
    trigger_key: str | None = None
    """Idempotency key of whatever created the run (a scheduler tick): one run per key, ever."""
    source_watermark: str | None = None
    """The source's MAX(export_time) for the run's day, as this run saw it."""
    skip_reason: str | None = None
    """Why a COMPLETE run loaded nothing (its source had not changed since an earlier run)."""
    warnings: tuple[str, ...] = ()
    """What a user should know about a run that still succeeded (e.g. its source had no rows that day)."""
    claim_token: str | None = field(default=None, repr=False)
    lease_expires_at: str | None = None

    @property
    def ref(self) -> PipelineRef:
        return PipelineRef(self.provider, self.domain, self.pipeline)

    def public(self) -> dict[str, Any]:
        """The run as the API returns it."""
        body = self.to_record()
        for private in ("claim_token", "lease_expires_at", "dedupe_key", "trigger_key"):
            body.pop(private)
        return body

    def to_record(self) -> dict[str, Any]:
        """Every field, JSON-ready, for a store: the run record, whose id is ``pipeline_logging_id``."""
        fields = asdict(self)
        body = {RECORD_RUN_ID: fields.pop("run_id"), **fields}
        body["status"] = str(self.status)
        return body

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Run:
        fields = dict(record)
        fields["run_id"] = fields.pop(RECORD_RUN_ID)
        fields["status"] = RunStatus(fields["status"])
        fields["steps"] = tuple(StepResult(**step) for step in fields.get("steps") or ())
        fields["warnings"] = tuple(fields.get("warnings") or ())
        return cls(**fields)

    def with_changes(self, **changes: Any) -> Run:
        return replace(self, **changes)

    # -- transitions: every store applies exactly these, inside its own transaction ----------
    def claimed(self, claim_token: str, now: str, lease_expires_at: str) -> Run | None:
        """PENDING, or RUNNING under a lease that ended before ``now`` (its worker died), becomes
        RUNNING for this claim; anything else cannot be claimed (None)."""
        stale = self.status is RunStatus.RUNNING and (self.lease_expires_at or "") < now
        if self.status is not RunStatus.PENDING and not stale:
            return None
        return replace(
            self,
            status=RunStatus.RUNNING,
            claim_token=claim_token,
            lease_expires_at=lease_expires_at,
            start_time=now,
            attempt=self.attempt + 1,
        )

    def updated(self, expected_status: RunStatus, claim_token: str | None, changes: Mapping[str, Any]) -> Run | None:
        """The compare-and-set: ``changes`` apply only while the run is still in ``expected_status``
        (and, given a claim token, still held by it); None otherwise. A finished run is never
        RUNNING or PENDING again, so no caller's expectation can reopen it."""
        if self.status is not expected_status or (claim_token is not None and self.claim_token != claim_token):
            return None
        return replace(self, **changes)


def dedupe_key(org_slug: str, ref: PipelineRef, parameters: dict[str, Any]) -> str:
    """Same org + pipeline + parameters: at most one such run may be active at a time."""
    canonical = json.dumps([org_slug, ref.path, parameters], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RunMessage:
    """What the run queue carries: enough to find the run, nothing secret."""

    run_id: str
    org_slug: str
    provider: str
    domain: str
    pipeline: str
    parameters: dict[str, Any]
    trigger: str
    requested_at: str
    attempt: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def attributes(self) -> dict[str, str]:
        return {
            "org_slug": self.org_slug,
            "run_id": self.run_id,
            "pipeline": f"{self.provider}/{self.domain}/{self.pipeline}",
        }

    @classmethod
    def from_run(cls, run: Run) -> RunMessage:
        return cls(
            run_id=run.run_id,
            org_slug=run.org_slug,
            provider=run.provider,
            domain=run.domain,
            pipeline=run.pipeline,
            parameters=run.parameters,
            trigger=run.trigger,
            requested_at=run.requested_at,
            attempt=run.attempt,
        )
