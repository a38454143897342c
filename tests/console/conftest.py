"""The web console in a real browser: Debian's chromium through chromium-driver, driven by Selenium,
against a `cloudact serve` subprocess. A failing test leaves a screenshot in ``artifacts/console/``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench import focus_data
from bench.focus_data import FocusRow
from shared import application
from shared.application import Application
from shared.domain.runs import RunStatus
from shared.ports import RunFilter
from shared.settings import PROJECT_ROOT
from tests.conftest import ADMIN_KEY, YESTERDAY, deliver_all, onboard, submit

ARTIFACTS = PROJECT_ROOT / "artifacts" / "console"
HOSTILE_SERVICE = "<img src=x onerror=window.__xss=1>"
UNICODE_SERVICE = "Ünïcødé ☁ 雲 \u202eevil"
DAYS = 4
FOCUS_START = YESTERDAY - timedelta(days=DAYS - 1)
PIPELINE_DAYS = [FOCUS_START + timedelta(days=offset) for offset in range(DAYS - 1)]
"""Loaded by real billing runs before the server starts; the browser test runs the last day itself."""
TENANT_PROVIDER = "Tenant Cloud"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def focus_rows() -> list[FocusRow]:
    """Names no pipeline would produce, tenant-controlled and meant to be shown as text, beside the
    billing runs' own rows (provider Google Cloud)."""
    rows = []
    for offset in range(DAYS):
        day = FOCUS_START + timedelta(days=offset)
        rows += [
            # large enough to rank among the chart's series and the top tables, not in "Other"
            FocusRow(day, TENANT_PROVIDER, HOSTILE_SERVICE, Decimal("900000.000000001"), sub_account="p-<b>x</b>"),
            FocusRow(day, TENANT_PROVIDER, UNICODE_SERVICE, Decimal("800000.5") + offset, sub_account="o-1"),
        ]
    return rows


class Served:
    def __init__(self, url: str, api_key: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.api_key, self.process, self.log = url, api_key, process, log


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An onboarded org with a billing export, real billing runs of all its days but the last, FOCUS rows
    with hostile names, then `cloudact serve` on that data."""
    from shared.local_stack import billing_export
    from tests.conftest import EXPORT_TABLE

    root = tmp_path_factory.mktemp("console")
    data_dir = root / "data"
    patch = pytest.MonkeyPatch()
    env = {"CLOUDACT_BACKEND": "local", "CLOUDACT_DATA_DIR": str(data_dir), "CLOUDACT_ADMIN_KEY": ADMIN_KEY}
    for name, value in env.items():
        patch.setenv(name, value)
    built = Application.from_env()
    before = application.install(built)
    try:
        backend = built.backend
        spec = billing_export.ExportSpec(table_id=EXPORT_TABLE, rows=4_000, days=DAYS, end_date=YESTERDAY)
        billing_export.generate(backend.warehouses.platform(), spec)  # type: ignore[arg-type]
        tenant = onboard(backend, "acmecorp", spec)
        for day in PIPELINE_DAYS:
            assert submit(tenant, day).status_code == 202
        deliver_all()
        complete = backend.store.list_runs(RunFilter(org_slug="acmecorp", status=RunStatus.COMPLETE))
        assert len(complete.runs) == len(PIPELINE_DAYS), "the billing runs before the server did not all complete"
        focus_data.write(backend.warehouses.platform(), "acmecorp", focus_rows())
    finally:
        # closes the warehouse file: the server process must be its only user
        application.install(before)
        built.close()
        patch.undo()
    port = _free_port()
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "cloudact"), "--data-dir", str(data_dir), "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield Served(url, tenant.api_key, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Debian's chromium and chromium-driver are needed: `make browser` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(30)
    try:
        yield driver
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for folder in (ARTIFACTS, tmp_path):
                driver.save_screenshot(str(folder / f"{request.node.name}.png"))
    finally:
        driver.quit()


def day(offset: int) -> date:
    return FOCUS_START + timedelta(days=offset)
