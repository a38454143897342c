"""Shared fixtures: every test gets its own data directory and a fresh process backend."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as settings_profiles

from shared import runtime, web
from shared.ports import Backend
from shared.settings import PROJECT_ROOT, Settings, get_settings
from tests.gcp_emulators import Emulator, session_emulator

# CI replays the same generated cases every run (a failure there is reproducible); a developer's
# runs explore new ones.
settings_profiles.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings_profiles.load_profile("ci")

ADMIN_KEY = "test-admin-key-0123456789abcdef"
EXPORT_TABLE = "acme-billing-export.billing_export.gcp_billing_export_v1_TEST"
YESTERDAY = date.today() - timedelta(days=1)


# What must never reach a log line: an org API key, a vendor's admin key (OpenAI, Anthropic),
# private-key material, a credential field, a stack trace.
LEAKS = re.compile(
    r"[a-z0-9_]{3,50}_api_[A-Za-z0-9]{38}|sk-admin-[A-Za-z0-9_-]{8,}|sk-ant-admin[A-Za-z0-9_-]{8,}"
    r"|PRIVATE KEY|\"private_key\"|Traceback \(most recent"
)


class LogCollector(logging.Handler):
    """Formats every record as it would be written: our JSON for our loggers, the standard format
    (tracebacks included) for the frameworks'."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        from shared.logs import JsonFormatter

        self.ours, self.theirs = JsonFormatter(), logging.Formatter("%(name)s %(message)s")
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        formatter = self.ours if record.name.startswith("cloudact") else self.theirs
        self.lines.append(formatter.format(record))


# Google's emulators, started once per test session on free loopback ports, for whichever tests
# (contract suites, the production-path e2e) ask for them.


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("firestore", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("pubsub", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with session_emulator("bigquery", tmp_path_factory.mktemp("emulators")) as emulator:
        yield emulator


@pytest.fixture(scope="session", autouse=True)
def no_secret_or_stack_trace_in_any_log() -> Iterator[LogCollector]:
    collector = LogCollector()
    logging.getLogger().addHandler(collector)
    yield collector
    logging.getLogger().removeHandler(collector)
    leaks = [line for line in collector.lines if LEAKS.search(line)]
    assert not leaks, (
        f"{len(leaks)} log lines leak a secret or a stack trace, e.g. {LEAKS.sub('<redacted>', leaks[0])[:300]}"
    )


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("CLOUDACT_BACKEND", "local")
    monkeypatch.setenv("CLOUDACT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLOUDACT_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("CLOUDACT_RETRY_MIN_BACKOFF_S", "0")
    monkeypatch.setenv("CLOUDACT_RETRY_MAX_BACKOFF_S", "0")
    runtime.reset()
    web._limiter = None  # failed-auth counts are per process: start each test clean
    yield get_settings()
    runtime.reset()


@pytest.fixture
def backend(settings: Settings) -> Backend:
    return runtime.backend()


def function_app(name: str) -> Any:
    """A function loaded exactly as functions-framework deploys it. Load it before starting threads:
    loading is not thread-safe (functions-framework keeps the app being built in a global)."""
    import functions_framework

    return functions_framework.create_app(target=name, source=str(PROJECT_ROOT / "functions" / name / "main.py"))


def function_client(name: str) -> Any:
    return function_app(name).test_client()


def pubsub_cloud_event(
    message: dict[str, Any] | bytes, message_id: str = "1", attempt: int = 1
) -> tuple[dict[str, str], bytes]:
    """A real ``messagePublished`` CloudEvent (binary mode), as Eventarc delivers it."""
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/cloudact-local/topics/pipeline-runs",
        "ce-id": message_id,
        "ce-time": "2026-01-01T00:00:00.000Z",
        "Content-Type": "application/json",
    }
    body = {
        "message": {"data": base64.b64encode(data).decode(), "messageId": message_id, "attributes": {}},
        "subscription": "projects/cloudact-local/subscriptions/pipeline-runs-execute",
        "deliveryAttempt": attempt,
    }
    return headers, json.dumps(body).encode()


class Tenant:
    """An onboarded org with a GCP integration pointing at a small synthetic export."""

    def __init__(self, backend: Backend, slug: str, api_key: str, spec: Any) -> None:
        self.backend = backend
        self.slug = slug
        self.api_key = api_key
        self.spec = spec

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


def onboard(backend: Backend, slug: str, spec: Any) -> Tenant:
    from shared.domain.orgs import Organization
    from shared.local_stack.demo import fake_service_account
    from shared.services import integrations, onboarding

    _, key, _ = onboarding.create_org(backend, slug)
    org = backend.store.get_org(slug)
    assert isinstance(org, Organization)
    project = spec.table_id.split(".")[0]
    integrations.set_up(
        backend, org, "gcp", {"credential": fake_service_account(project), "billing_export_table": spec.table_id}
    )
    return Tenant(backend, slug, key, spec)


@pytest.fixture
def export_spec() -> Any:
    from shared.local_stack.billing_export import ExportSpec

    return ExportSpec(table_id=EXPORT_TABLE, rows=20_000, days=5, end_date=YESTERDAY)


@pytest.fixture
def tenant(backend: Backend, export_spec: Any) -> Tenant:
    from shared.local_stack import billing_export

    billing_export.generate(backend.warehouses.platform(), export_spec)  # type: ignore[arg-type]
    return onboard(backend, "acmecorp", export_spec)


def deliver_all(max_rounds: int = 20) -> int:
    """Delivers every ready queued message to the execute function (as the local stack does)."""
    from shared.local_stack.server import PushDelivery, dead_letter_handler

    delivery = PushDelivery(runtime.backend().queue, get_settings().project, dead_letter_handler)  # type: ignore[arg-type]
    delivered = 0
    for _ in range(max_rounds):
        count = delivery.drain_once()
        if count == 0:
            break
        delivered += count
    return delivered


def submit(tenant: Tenant, day: date | None = None, *, app: Any = None, **body: Any) -> Any:
    """Submits gcp/cost/billing through the submit function; returns the response."""
    if day is not None:
        body["date"] = day.isoformat()
    return (
        (app or function_app("submit"))
        .test_client()
        .post(f"/api/v1/pipelines/run/{tenant.slug}/gcp/cost/billing", json=body, headers=tenant.headers)
    )
