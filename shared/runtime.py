"""The process's adapters, built on first use and reused across invocations (lazy globals).

A function that is never called pays nothing; the vendor libraries are imported only here, and only
for the backend the settings name.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from shared.errors import ConfigError, Unauthenticated
from shared.ports import Backend, KeyManager, RunQueue, Store, TokenVerifier, WarehouseFactory
from shared.settings import Settings, get_settings

_backend: Backend | None = None
_verifier: TokenVerifier | None = None
_lock = threading.Lock()


def build_backend(settings: Settings) -> Backend:
    """Each port's adapter as the settings name it; only the chosen adapters' modules are imported,
    and Google's client libraries only when a client is first used."""
    data = settings.data_dir
    store: Store
    queue: RunQueue
    warehouses: WarehouseFactory
    keys: KeyManager

    if settings.store == "firestore":
        from shared.adapters.gcp.store import FirestoreStore

        store = FirestoreStore(
            settings.project,
            database=settings.firestore_database,
            run_retention=timedelta(days=settings.run_retention_days),
        )
    else:
        from shared.adapters.local.store import SqliteStore

        store = SqliteStore(data / "state.sqlite")

    if settings.queue == "pubsub":
        from shared.adapters.gcp.queue import PubSubRunQueue

        queue = PubSubRunQueue(settings.project, settings.runs_topic)
    else:
        from shared.adapters.local.queue import SqliteRunQueue

        queue = SqliteRunQueue(
            data / "queue.sqlite",
            max_delivery_attempts=settings.max_delivery_attempts,
            min_backoff_s=settings.retry_min_backoff_s,
            max_backoff_s=settings.retry_max_backoff_s,
            ack_deadline_s=settings.run_lease_s,
        )

    if settings.warehouse == "bigquery":
        from shared.adapters.gcp.warehouse import BigQueryWarehouses

        warehouses = BigQueryWarehouses(
            settings.project,
            location=settings.bq_location,
            max_bytes_billed=settings.max_bytes_billed,
            api_endpoint=settings.bq_api_endpoint,
        )
    else:
        from shared.adapters.local.warehouse import DuckDBWarehouse, LocalWarehouses

        warehouses = LocalWarehouses(DuckDBWarehouse(data / "warehouse", settings.project))

    if settings.key_manager == "kms":
        from shared.adapters.gcp.keys import KmsKeyManager

        if not settings.kms_key:
            raise ConfigError("CLOUDACT_KEY_MANAGER=kms needs CLOUDACT_KMS_KEY (the crypto key's full resource name)")
        keys = KmsKeyManager(settings.kms_key)
    else:
        from shared.adapters.local.keys import LocalKeyManager

        keys = LocalKeyManager(data / "master-keys")

    return Backend(store=store, queue=queue, warehouses=warehouses, keys=keys)


def backend() -> Backend:
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                _backend = build_backend(get_settings())
    return _backend


def reset() -> None:
    """Forget the process's adapters (tests point a fresh data directory at each case)."""
    global _backend, _verifier
    with _lock:
        _verifier = None
        if _backend is not None:
            close = getattr(_backend.warehouses.platform(), "close", None)
            if close:
                close()
        _backend = None
    get_settings.cache_clear()


def admin_key(settings: Settings) -> str:
    """The admin credential: from settings (a deployment's secret), or on the local stack a file the
    local adapters create on first use."""
    if settings.admin_key:
        return settings.admin_key
    if settings.backend != "local":
        raise Unauthenticated("Admin credential not configured")
    from shared.adapters.local.admin_key import read_or_create

    return read_or_create(settings.data_dir / "admin.key")


def token_verifier() -> TokenVerifier:
    """Verifies the scheduler's bearer tokens: Google's OIDC tokens in production, local JWTs here."""
    global _verifier
    if _verifier is None:
        settings = get_settings()
        if settings.backend == "gcp":
            from shared.adapters.gcp.tokens import GoogleOidcVerifier

            _verifier = GoogleOidcVerifier(settings.scheduler_service_account)
        else:
            from shared.adapters.local.tokens import LocalTokenVerifier

            _verifier = LocalTokenVerifier(settings.data_dir / "scheduler.key")
    return _verifier


def local_scheduler_token() -> str:
    """A token the scheduler function accepts, for the local stack's clock and CLI (local only)."""
    from shared.adapters.local.tokens import LocalTokenVerifier
    from shared.settings import LOCAL_SCHEDULER_AUDIENCE

    verifier = token_verifier()
    if not isinstance(verifier, LocalTokenVerifier):
        raise ConfigError("scheduler tokens are minted locally only; in production Cloud Scheduler signs them")
    return verifier.mint(get_settings().scheduler_audience or LOCAL_SCHEDULER_AUDIENCE)
