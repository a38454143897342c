"""The use cases against the embedded adapters, built here directly: no HTTP, no process globals,
no data beyond a few records."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local.keys import LocalKeyManager
from shared.adapters.local.queue import SqliteRunQueue
from shared.adapters.local.store import SqliteStore
from shared.adapters.local.warehouse import DuckDBWarehouse, LocalWarehouses
from shared.application import Application
from shared.domain.orgs import Organization
from shared.domain.runs import PipelineRef
from shared.ports import Backend, Store
from shared.services import integrations
from shared.settings import PROJECT_ROOT, Settings

BILLING = PipelineRef("gcp", "cost", "billing")


@pytest.fixture
def unit_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, configs_dir=PROJECT_ROOT / "configs", max_backfill_days=7)


def app_on(backend: Backend, settings: Settings) -> Application:
    """The use cases' collaborators: these settings, over this test's own adapters."""
    return Application(settings, backend=backend)


def embedded_backend(data: Path, store: Store | None = None) -> Backend:
    return Backend(
        store=store or SqliteStore(data / "state.sqlite"),
        queue=SqliteRunQueue(data / "queue.sqlite"),
        warehouses=LocalWarehouses(DuckDBWarehouse(data / "warehouse", "cloudact-local")),
        keys=LocalKeyManager(data / "master-keys"),
    )


@pytest.fixture
def embedded(tmp_path: Path) -> Backend:
    return embedded_backend(tmp_path / "embedded")


def add_org(backend: Backend, slug: str, *, integrated: bool = True, status: str = "active") -> Organization:
    org = Organization(slug=slug, name=slug, dataset=slug, created_at="2026-01-01T00:00:00.000Z", status=status)
    assert backend.store.create_org(org)
    if integrated:
        # a real-shaped key and no vendor check: no setting changes how it is set up
        body = {"credential": service_account(), "billing_export_table": TABLE}
        integrations.set_up(backend, Settings.from_env(), org, "gcp", body)
    return org


TABLE = "acme-billing.billing_export.gcp_billing_export_v1_000000_000000_000000"


def service_account() -> dict[str, Any]:
    # the shape the integration accepts; the key is never used by these tests
    return {
        "type": "service_account",
        "project_id": "acme-billing",
        "private_key_id": "0123456789abcdef",
        "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n",
        "client_email": "reader@acme-billing.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def break_queue(backend: Backend) -> None:
    """The queue's storage fails every publish from now on (its table is gone), as a real fault."""
    queue = backend.queue
    assert isinstance(queue, SqliteRunQueue)
    with sqlite3.connect(queue._db.path) as conn:
        conn.execute("DROP TABLE messages")


def repair_queue(backend: Backend) -> None:
    queue = backend.queue
    assert isinstance(queue, SqliteRunQueue)
    backend.queue = SqliteRunQueue(queue._db.path)  # creates its table again


def queued_run_ids(backend: Backend) -> list[str]:
    queue = backend.queue
    assert isinstance(queue, SqliteRunQueue)
    return [delivery.attributes["run_id"] for delivery in queue.pull(max_messages=1000)]
