"""The composition root: everything one process shares, built in one place.

An :class:`Application` holds the settings, the backend (each port's adapter), the pipeline
catalog, the failed-auth throttle, the scheduler's token verifier and the admin credential lookup.
A process has one, built on first use from the environment by :func:`current` (functions-framework's
lazy-globals pattern: a function that is never called pays nothing). The functions' entry points
take it from :func:`current` and pass it explicitly to the use cases; nothing below them reaches for
a global.

The local stack (``cloudact serve``, the demo, the CLI) and the tests build their own application
and make it the process's one with :func:`installed` (or :func:`install`), so the functions they
serve in-process use it.

Building an application imports no vendor library: adapters are built on first use of
``backend``, and only those the settings name (Google's client libraries only when a client is
first used).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.errors import ConfigError, Unauthenticated
from shared.ports import Backend, KeyManager, RunQueue, Store, TokenVerifier, WarehouseFactory
from shared.settings import LOCAL_SCHEDULER_AUDIENCE, Settings
from shared.throttle import FailedAuthLimiter

if TYPE_CHECKING:
    from shared.pipelines.catalog import PipelineCatalog


class Application:
    """One process's collaborators. ``backend`` may be given (a test's own adapters); otherwise it is
    built from the settings on first use."""

    def __init__(self, settings: Settings, *, backend: Backend | None = None) -> None:
        self.settings = settings
        self.auth_throttle = FailedAuthLimiter(settings.auth_failure_limit, settings.auth_failure_window_s)
        """Failed authentications per client, in this process's memory (see shared/throttle.py)."""
        self._backend = backend
        self._owns_backend = backend is None
        self._pipelines: PipelineCatalog | None = None
        self._verifier: TokenVerifier | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> Application:
        return cls(Settings.from_env())

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = build_backend(self.settings)
        return self._backend

    @property
    def pipelines(self) -> PipelineCatalog:
        """The pipeline files under ``settings.configs_dir``: the only way code loads them."""
        if self._pipelines is None:
            from shared.pipelines.catalog import PipelineCatalog

            with self._lock:
                if self._pipelines is None:
                    self._pipelines = PipelineCatalog(self.settings.configs_dir)
        return self._pipelines

    def admin_key(self) -> str:
        """The admin credential: from settings (a deployment's secret), or on the local stack a file
        the local adapters create on first use."""
        if self.settings.admin_key:
            return self.settings.admin_key
        if self.settings.backend != "local":
            raise Unauthenticated("Admin credential not configured")
        from shared.adapters.local.admin_key import read_or_create

        return read_or_create(self.settings.data_dir / "admin.key")

    def token_verifier(self) -> TokenVerifier:
        """Verifies the scheduler's bearer tokens: Google's OIDC tokens in production, local JWTs here."""
        if self._verifier is None:
            with self._lock:
                if self._verifier is None:
                    self._verifier = _build_verifier(self.settings)
        return self._verifier

    def local_scheduler_token(self) -> str:
        """A token the scheduler function accepts, for the local stack's clock and CLI (local only)."""
        from shared.adapters.local.tokens import LocalTokenVerifier

        verifier = self.token_verifier()
        if not isinstance(verifier, LocalTokenVerifier):
            raise ConfigError("scheduler tokens are minted locally only; in production Cloud Scheduler signs them")
        return verifier.mint(self.settings.scheduler_audience or LOCAL_SCHEDULER_AUDIENCE)

    def close(self) -> None:
        """Closes the adapters it built that hold files open (the local warehouse) and forgets them;
        they are built again if used after. The CLI closes before handing the data folder to a
        server process. A backend given to it is its giver's to close."""
        if not self._owns_backend:
            return
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            close = getattr(backend.warehouses.platform(), "close", None)
            if close:
                close()


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


def _build_verifier(settings: Settings) -> TokenVerifier:
    if settings.backend == "gcp":
        from shared.adapters.gcp.tokens import GoogleOidcVerifier

        return GoogleOidcVerifier(settings.scheduler_service_account)
    from shared.adapters.local.tokens import LocalTokenVerifier

    return LocalTokenVerifier(settings.data_dir / "scheduler.key")


# -- the process's application ----------------------------------------------------------------
_current: Application | None = None
_current_lock = threading.Lock()


def current() -> Application:
    """The process's application: the one installed, else one built from the environment on first use."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = Application.from_env()
    return _current


def install(application: Application | None) -> Application | None:
    """Makes ``application`` the process's one (None: the next :func:`current` builds one from the
    environment); returns the one it replaces, which the caller closes or puts back."""
    global _current
    with _current_lock:
        previous, _current = _current, application
    return previous


@contextmanager
def installed(application: Application) -> Iterator[Application]:
    """``application`` is the process's one for the block; after it, it is closed and the one it
    replaced is back."""
    previous = install(application)
    try:
        yield application
    finally:
        install(previous)
        application.close()
