"""Shared fixtures: every test gets its own data directory and its own application.

A test that uses ``app`` (or ``settings``, ``backend``, ``tenant``) runs with an application built
for its data directory and installed as the process's one (``shared.application.installed``), so
the functions it calls in-process use it; ``other_settings`` installs a variant for a block.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as settings_profiles

from shared import application
from shared.application import Application
from shared.ports import Backend
from shared.settings import PROJECT_ROOT, Settings
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


SERVER_LOGS: list[Path] = []
"""Log files of server processes the tests started: scanned like this process's own log."""


def log_leaks(lines: list[str]) -> list[str]:
    return [line for line in lines if LEAKS.search(line)]


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
    leaks = log_leaks(collector.lines)
    for path in SERVER_LOGS:
        if path.exists():
            leaks += log_leaks(path.read_text(errors="replace").splitlines())
    assert not leaks, (
        f"{len(leaks)} log lines leak a secret or a stack trace, e.g. {LEAKS.sub('<redacted>', leaks[0])[:300]}"
    )


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Application]:
    """This test's application (its own data directory, adapters and failed-auth counts), installed
    as the process's one for the test; closed after it."""
    monkeypatch.setenv("CLOUDACT_BACKEND", "local")
    monkeypatch.setenv("CLOUDACT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLOUDACT_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("CLOUDACT_RETRY_MIN_BACKOFF_S", "0")
    monkeypatch.setenv("CLOUDACT_RETRY_MAX_BACKOFF_S", "0")
    installed = Application.from_env()
    before = application.install(installed)
    try:
        yield installed
    finally:
        application.install(before).close()  # whichever the test left installed (see rebuilt_from_env)
        installed.close()


@pytest.fixture
def settings(app: Application) -> Settings:
    return app.settings


def rebuilt_from_env() -> Application:
    """For the rest of the test, after it changed the environment: the installed application's
    files are closed and a new one built from the environment takes its place."""
    application.current().close()
    rebuilt = Application.from_env()
    application.install(rebuilt)
    return rebuilt


def other_settings(**changes: Any) -> AbstractContextManager[Application]:
    """For a block: the installed application with these settings changed, on the same adapters
    (and fresh failed-auth counts)."""
    current = application.current()
    return application.installed(Application(dataclasses.replace(current.settings, **changes), backend=current.backend))


class StackProcess:
    """The local stack in its own process (``tests/stack_child.py``), on this test's data directory.
    Its log (stderr) is scanned for secrets and stack traces like every other log line."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        SERVER_LOGS.append(log_path)

    def start(self, **extra_env: str) -> StackProcess:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.stack_child"],
                cwd=PROJECT_ROOT,
                env={**self.env, **extra_env},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the stack did not start; see {self.log_path}"
        self.url = json.loads(line)["url"]
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """``kill -9``: no cleanup, no acknowledgement, nothing flushed."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close_pipes()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.process is not None
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def log_leaks(self) -> list[str]:
        return log_leaks(self.log_path.read_text(errors="replace").splitlines())


@pytest.fixture
def stack_process(settings: Settings, tmp_path: Path) -> Iterator[StackProcess]:
    """A local stack process on this test's data directory (not started: ``.start()``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    stack = StackProcess(tmp_path / "stack.log", env)
    yield stack
    stack.stop()
    leaks = stack.log_leaks()
    assert not leaks, f"the stack's log leaks a secret or a stack trace: {LEAKS.sub('<redacted>', leaks[0])[:300]}"


@pytest.fixture
def backend(app: Application) -> Backend:
    return app.backend


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
        backend,
        application.current().settings,
        org,
        "gcp",
        {"credential": fake_service_account(project), "billing_export_table": spec.table_id},
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

    app = application.current()
    delivery = PushDelivery(app.backend.queue, app.settings.project, dead_letter_handler)  # type: ignore[arg-type]
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
