"""The process's adapters, built on first use and reused across invocations (lazy globals).

A function that is never called pays nothing; the vendor libraries are imported only here, and only
for the backend the settings name.
"""

from __future__ import annotations

import threading

from shared.errors import ConfigError
from shared.ports import Backend
from shared.settings import Settings, get_settings

_backend: Backend | None = None
_lock = threading.Lock()


def build_backend(settings: Settings) -> Backend:
    if settings.backend == "local":
        from shared.adapters.local.keys import LocalKeyManager
        from shared.adapters.local.queue import SqliteRunQueue
        from shared.adapters.local.store import SqliteStore
        from shared.adapters.local.warehouse import DuckDBWarehouse, LocalWarehouses

        data = settings.data_dir
        return Backend(
            store=SqliteStore(data / "state.sqlite"),
            queue=SqliteRunQueue(
                data / "queue.sqlite",
                max_delivery_attempts=settings.max_delivery_attempts,
                min_backoff_s=settings.retry_min_backoff_s,
                max_backoff_s=settings.retry_max_backoff_s,
                ack_deadline_s=settings.run_lease_s,
            ),
            warehouses=LocalWarehouses(DuckDBWarehouse(data / "warehouse", settings.project)),
            keys=LocalKeyManager(data / "master-keys"),
        )
    raise ConfigError("CLOUDACT_BACKEND=gcp needs the production adapters, which this build does not include yet")


def backend() -> Backend:
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                _backend = build_backend(get_settings())
    return _backend


def reset() -> None:
    """Forget the process's adapters (tests point a fresh data directory at each case)."""
    global _backend
    with _lock:
        if _backend is not None:
            close = getattr(_backend.warehouses.platform(), "close", None)
            if close:
                close()
        _backend = None
    get_settings.cache_clear()
