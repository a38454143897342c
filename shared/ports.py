"""The small interfaces between the use cases and the outside world.

Each port has a production adapter (``adapters/gcp``) and an embedded one (``adapters/local``).
Callers only ever see these types and the errors of ``shared.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from shared.domain.api_keys import ApiKeyRecord
from shared.domain.integrations import Integration
from shared.domain.orgs import Organization
from shared.domain.runs import Run, RunMessage, RunStatus

QueryValue = str | int | float | bool | date | datetime | None


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """A BigQuery standard SQL type name: STRING, INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, DATE,
    TIMESTAMP."""
    mode: str = "NULLABLE"


@dataclass(frozen=True)
class TableSpec:
    dataset: str
    name: str
    columns: tuple[Column, ...]
    partition_field: str | None = None
    clustering: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class JobLabels:
    """Attached to every warehouse job so cost and logs can be traced back to a run."""

    org_slug: str
    run_id: str
    step: str


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    bytes_processed: int = 0
    bytes_billed: int = 0

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class LoadResult:
    rows: int
    bytes_processed: int = 0


class Warehouse(Protocol):
    """Runs BigQuery-dialect SQL and owns the platform's datasets."""

    def ensure_dataset(self, dataset: str) -> None: ...

    def ensure_table(self, table: TableSpec) -> None: ...

    def query(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> QueryResult:
        """Runs one statement; values are bound as named parameters (``@name``), never formatted in."""
        ...

    def estimate_bytes(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> int:
        """The bytes ``query`` would process (and be billed for), without running it: a dry run.
        Errors as ``query`` would raise them (a query that cannot succeed is terminal)."""
        ...

    def replace_partition(
        self, table: TableSpec, day: date, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, labels: JobLabels
    ) -> LoadResult:
        """Atomically replaces the day partition ``table.partition_field = day`` with ``rows``."""
        ...

    def upsert_rows(self, table: TableSpec, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Appends rows, replacing any earlier row with the same ``key`` (so a retried append is harmless)."""
        ...

    def ensure_union_view(self, dataset: str, view: str, table_prefix: str) -> None:
        """(Re)creates ``dataset.view`` as the UNION ALL of every table of the dataset whose name starts
        with ``table_prefix``, on the columns they all have (in the first table's order)."""
        ...


class WarehouseFactory(Protocol):
    def platform(self) -> Warehouse: ...

    def for_credentials(self, credentials: Mapping[str, Any]) -> Warehouse:
        """A warehouse that reads with an org's own service account (its billing export)."""
        ...


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_page_token: str | None = None


class DuplicateRun(Exception):
    """Raised by ``Store.create_run`` when an active run has the same dedupe key."""

    def __init__(self, existing: Run) -> None:
        super().__init__(existing.run_id)
        self.existing = existing


class OrgAtCapacity(Exception):
    """Raised by ``Store.claim_run`` when the run's org already has ``max_running`` runs RUNNING."""


@dataclass(frozen=True)
class RunFilter:
    org_slug: str
    pipeline_id: str | None = None
    status: RunStatus | None = None
    parent_id: str | None = None
    page_size: int = 50
    page_token: str | None = None


class Store(Protocol):
    """Operational state: orgs, key hashes, integrations and runs, with conditional updates."""

    def create_org(self, org: Organization) -> bool:
        """False when the slug is taken."""
        ...

    def get_org(self, slug: str) -> Organization | None: ...

    def list_orgs(self) -> list[Organization]: ...

    def add_api_key(self, record: ApiKeyRecord) -> None: ...

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None: ...

    def list_api_keys(self, org_slug: str) -> list[ApiKeyRecord]: ...

    def revoke_api_key(self, org_slug: str, key_id: str, revoked_at: str) -> bool: ...

    def put_integration(self, integration: Integration) -> None: ...

    def get_integration(self, org_slug: str, integration_type: str) -> Integration | None: ...

    def list_integrations(self, org_slug: str) -> list[Integration]: ...

    def delete_integration(self, org_slug: str, integration_type: str) -> bool: ...

    def create_run(self, run: Run) -> None:
        """Inserts a PENDING run; raises DuplicateRun if an active run shares its dedupe key, or any
        run its trigger key."""
        ...

    def get_run(self, run_id: str) -> Run | None: ...

    def claim_run(
        self, run_id: str, claim_token: str, now: str, lease_expires_at: str, max_running: int | None = None
    ) -> Run | None:
        """PENDING (or RUNNING with an expired lease) -> RUNNING for this claim; None if not claimable.

        With ``max_running``, a PENDING run is claimed only while fewer than that many of its org's
        runs are RUNNING, decided in the same transaction as the claim (a burst of deliveries
        cannot overshoot it); otherwise ``OrgAtCapacity`` and nothing changes. Reclaiming a RUNNING
        run whose worker died does not add to the count, so it is never refused.
        """
        ...

    def update_run(
        self, run_id: str, *, expected_status: RunStatus, claim_token: str | None, changes: Mapping[str, Any]
    ) -> Run | None:
        """Compare-and-set: applies ``changes`` only if status (and claim) still match; None otherwise."""
        ...

    def list_runs(self, query: RunFilter) -> RunPage: ...

    def last_complete_run(self, dedupe_key: str) -> Run | None:
        """The most recent COMPLETE run of the same org, pipeline and parameters."""
        ...

    def count_running(self, org_slug: str) -> int: ...

    def find_stale_runs(self, lease_expired_before: str, requested_before: str, limit: int = 500) -> list[Run]:
        """Every org's RUNNING runs whose lease ended before the first time, and PENDING runs
        requested before the second: the reaper's work list."""
        ...


class RunQueue(Protocol):
    def publish(self, message: RunMessage) -> str:
        """Durably enqueues the message; returns its message id once the queue has it."""
        ...

    def publish_many(self, messages: Sequence[RunMessage]) -> list[str | Exception]:
        """Enqueues in batches; per message, its id or the error that kept it out."""
        ...


class KeyManager(Protocol):
    """Envelope encryption: a fresh data key per secret, wrapped by a master key."""

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]: ...

    def decrypt(self, envelope: Mapping[str, Any], associated_data: bytes) -> bytes: ...


class TokenVerifier(Protocol):
    """Checks a bearer token from a trusted caller (Cloud Scheduler's OIDC token in production)."""

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims; raises Unauthenticated if it is invalid, expired or for another audience."""
        ...


@dataclass
class Backend:
    """The adapters one process uses, built once and reused across invocations."""

    store: Store
    queue: RunQueue
    warehouses: WarehouseFactory
    keys: KeyManager
