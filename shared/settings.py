"""Settings from the environment, read once per process (by ``shared.application``).

Plain environment variables (no settings framework) keep a function's cold start small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_SCHEDULER_AUDIENCE = "cloudact-local-scheduler"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _non_negative(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value}")
    return value


# Each port's adapter: the embedded one or Google's. CLOUDACT_BACKEND picks the default for all four;
# each can be overridden alone (e.g. Google's services with the local key file, as the emulator
# tests do, since Cloud KMS has no emulator).
ADAPTER_CHOICES = {
    "CLOUDACT_WAREHOUSE": {"local": "duckdb", "gcp": "bigquery"},
    "CLOUDACT_STORE": {"local": "sqlite", "gcp": "firestore"},
    "CLOUDACT_QUEUE": {"local": "sqlite", "gcp": "pubsub"},
    "CLOUDACT_KEY_MANAGER": {"local": "local", "gcp": "kms"},
}


def _adapter(name: str, backend: str) -> str:
    choices = ADAPTER_CHOICES[name]
    value = os.environ.get(name) or choices[backend]
    if value not in choices.values():
        allowed = " or ".join(repr(choice) for choice in choices.values())
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    backend: str
    """``local`` (embedded DuckDB/SQLite/file key) or ``gcp``."""
    data_dir: Path
    """Where every local file lives: warehouse, state, queue, master key."""
    configs_dir: Path
    project: str
    """The platform's project: home of the ``organizations`` dataset and of every org dataset."""
    admin_key: str | None
    """Admin credential; locally created in ``data_dir`` on first use when unset."""
    max_delivery_attempts: int
    """Deliveries of one run message before it is dead-lettered (Pub/Sub allows 5 to 100)."""
    retry_min_backoff_s: int
    retry_max_backoff_s: int
    run_lease_s: int
    """How long a worker's claim on a run lasts; a crashed worker's run is reclaimable after it."""
    max_body_bytes: int
    max_event_age_s: int
    """A run message older than this (the retry window) is dropped and its run failed, not executed."""
    reaper_grace_s: int
    """How long past its lease a RUNNING run may stay unclaimed before the reaper fails it."""
    pending_timeout_s: int
    """How long a run may stay PENDING (never delivered) before the reaper fails it."""
    auth_failure_limit: int
    """Failed authentications from one client within ``auth_failure_window_s`` before it gets 429."""
    auth_failure_window_s: int
    trusted_proxies: int = 0
    """Proxies in front of the functions that append the caller's address to X-Forwarded-For (and
    that a client cannot bypass): 0 locally (the connecting address is the client), 1 on a Cloud
    Functions URL (Google's front end appends it), 2 behind the external load balancer (it appends
    the client's address and its own)."""
    # -- scheduling and backfill ----------------------------------------------------------------
    max_running_per_org: int = 4
    """Runs of one org executing at once; more wait in the queue (redelivered with backoff)."""
    max_backfill_days: int = 366
    scheduler_audience: str | None = None
    """The audience a scheduler token must carry. Unset in production: then it is the URL the
    request was sent to, which is what Cloud Scheduler puts in its OIDC token."""
    run_retention_days: int = 400
    """How long Firestore keeps a finished run record (the warehouse's history keeps it for good)."""
    scheduler_service_account: str | None = None
    """The only identity whose Google OIDC tokens may call the scheduler (production)."""
    focus_export_max_days: int = 92
    """Days one FOCUS export may span (CLOUDACT_FOCUS_EXPORT_MAX_DAYS)."""
    focus_export_max_rows: int = 200_000
    """Rows one FOCUS export may hold; a larger one is refused (413), never cut short."""
    # -- per-port adapters and their Google Cloud settings -------------------------------------
    warehouse: str = "duckdb"
    """``duckdb`` or ``bigquery`` (CLOUDACT_WAREHOUSE)."""
    store: str = "sqlite"
    """``sqlite`` or ``firestore`` (CLOUDACT_STORE)."""
    queue: str = "sqlite"
    """``sqlite`` or ``pubsub`` (CLOUDACT_QUEUE)."""
    key_manager: str = "local"
    """``local`` or ``kms`` (CLOUDACT_KEY_MANAGER)."""
    runs_topic: str = "pipeline-runs"
    """The Pub/Sub topic run messages are published to, in ``project``."""
    kms_key: str | None = None
    """Full crypto key name: ``projects/P/locations/L/keyRings/R/cryptoKeys/K``."""
    firestore_database: str = "(default)"
    bq_location: str = "US"
    """Where BigQuery datasets are created and jobs run."""
    max_bytes_billed: int = 100 * 1024**3
    """The platform's ceiling on one query's billed bytes; a step may ask for less, never more."""
    bq_api_endpoint: str | None = None
    """A BigQuery API endpoint other than Google's (an emulator); used with anonymous credentials."""
    costs_max_bytes_billed: int = 10 * 1024**3
    """The ceiling on one cost API query's billed bytes (a year of an org's FOCUS rows fits well within)."""
    # -- vendors' HTTP APIs (each provider names its own base-URL variable) ----------------------
    vendor_timeout_s: float = 30.0
    """Timeout of one call to a vendor's API (connect: at most 10 s)."""
    vendor_retry_budget_s: float = 60.0
    """How long one step may wait between retries of a vendor's 429/5xx before the run is given
    back for redelivery."""

    @classmethod
    def from_env(cls) -> Settings:
        backend = os.environ.get("CLOUDACT_BACKEND", "local")
        if backend not in {"local", "gcp"}:
            raise ConfigError(f"CLOUDACT_BACKEND must be 'local' or 'gcp', got {backend!r}")
        return cls(
            backend=backend,
            data_dir=Path(os.environ.get("CLOUDACT_DATA_DIR", ".cloudact")).resolve(),
            configs_dir=Path(os.environ.get("CLOUDACT_CONFIGS_DIR", PROJECT_ROOT / "configs")),
            project=os.environ.get("CLOUDACT_PROJECT", "cloudact-local"),
            admin_key=os.environ.get("CLOUDACT_ADMIN_KEY") or None,
            max_delivery_attempts=_int("CLOUDACT_MAX_DELIVERY_ATTEMPTS", 5),
            retry_min_backoff_s=_int("CLOUDACT_RETRY_MIN_BACKOFF_S", 10),
            retry_max_backoff_s=_int("CLOUDACT_RETRY_MAX_BACKOFF_S", 600),
            run_lease_s=_int("CLOUDACT_RUN_LEASE_S", 900),
            max_body_bytes=_int("CLOUDACT_MAX_BODY_BYTES", 64 * 1024),
            max_event_age_s=_int("CLOUDACT_MAX_EVENT_AGE_S", 3 * 3600),
            reaper_grace_s=_int("CLOUDACT_REAPER_GRACE_S", 600),
            pending_timeout_s=_int("CLOUDACT_PENDING_TIMEOUT_S", 4 * 3600),
            auth_failure_limit=_int("CLOUDACT_AUTH_FAILURE_LIMIT", 20),
            auth_failure_window_s=_int("CLOUDACT_AUTH_FAILURE_WINDOW_S", 300),
            trusted_proxies=_non_negative("CLOUDACT_TRUSTED_PROXIES", 0 if backend == "local" else 1),
            max_running_per_org=_int("CLOUDACT_MAX_RUNNING_PER_ORG", 4),
            max_backfill_days=_int("CLOUDACT_MAX_BACKFILL_DAYS", 366),
            scheduler_audience=os.environ.get("CLOUDACT_SCHEDULER_AUDIENCE")
            or (LOCAL_SCHEDULER_AUDIENCE if backend == "local" else None),
            run_retention_days=_int("CLOUDACT_RUN_RETENTION_DAYS", 400),
            scheduler_service_account=os.environ.get("CLOUDACT_SCHEDULER_SERVICE_ACCOUNT") or None,
            focus_export_max_days=_int("CLOUDACT_FOCUS_EXPORT_MAX_DAYS", 92),
            focus_export_max_rows=_int("CLOUDACT_FOCUS_EXPORT_MAX_ROWS", 200_000),
            warehouse=_adapter("CLOUDACT_WAREHOUSE", backend),
            store=_adapter("CLOUDACT_STORE", backend),
            queue=_adapter("CLOUDACT_QUEUE", backend),
            key_manager=_adapter("CLOUDACT_KEY_MANAGER", backend),
            runs_topic=os.environ.get("CLOUDACT_RUNS_TOPIC") or "pipeline-runs",
            kms_key=os.environ.get("CLOUDACT_KMS_KEY") or None,
            firestore_database=os.environ.get("CLOUDACT_FIRESTORE_DATABASE") or "(default)",
            bq_location=os.environ.get("CLOUDACT_BQ_LOCATION") or "US",
            max_bytes_billed=_int("CLOUDACT_MAX_BYTES_BILLED", 100 * 1024**3),
            bq_api_endpoint=os.environ.get("CLOUDACT_BQ_API_ENDPOINT") or None,
            costs_max_bytes_billed=_int("CLOUDACT_COSTS_MAX_BYTES_BILLED", 10 * 1024**3),
            vendor_timeout_s=_int("CLOUDACT_VENDOR_TIMEOUT_S", 30),
            vendor_retry_budget_s=_int("CLOUDACT_VENDOR_RETRY_BUDGET_S", 60),
        )
