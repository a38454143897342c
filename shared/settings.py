"""Settings from the environment, read once per process.

Plain environment variables (no settings framework) keep a function's cold start small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


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
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
