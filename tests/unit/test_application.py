"""shared/application.py: one application per process, what installing one does, and the pipeline
catalog it carries."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from shared import application
from shared.application import Application
from shared.domain.runs import PipelineRef
from shared.errors import ConfigError, NotFound
from shared.settings import PROJECT_ROOT, Settings
from tests.unit.conftest import embedded_backend

BILLING = PipelineRef("gcp", "cost", "billing")


def test_installed_is_the_processs_application_for_the_block_then_the_earlier_one_is_back(
    app: Application, tmp_path: Path
) -> None:
    assert application.current() is app
    other = Application(dataclasses.replace(app.settings, data_dir=tmp_path / "other"))
    with application.installed(other) as inside:
        assert inside is other and application.current() is other
        other.backend.store.list_orgs()  # builds its adapters on the other folder
        assert (tmp_path / "other" / "state.sqlite").exists()
    assert application.current() is app
    assert other._backend is None  # closed on the way out


def test_each_application_counts_failed_authentications_on_its_own(settings: Settings) -> None:
    first, second = Application(settings), Application(settings)
    for _ in range(settings.auth_failure_limit):
        first.auth_throttle.record_failure("192.0.2.1")
    assert first.auth_throttle.retry_after("192.0.2.1") > 0
    assert second.auth_throttle.retry_after("192.0.2.1") == 0


def test_a_given_backend_is_used_and_left_open(settings: Settings, tmp_path: Path) -> None:
    backend = embedded_backend(tmp_path / "given")
    given = Application(settings, backend=backend)
    assert given.backend is backend
    given.close()
    assert given.backend is backend  # its giver's to close


def test_the_catalog_parses_a_file_once_and_again_when_it_changes(settings: Settings, tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", configs)
    pipelines = Application(dataclasses.replace(settings, configs_dir=configs)).pipelines
    first = pipelines.load(BILLING)
    assert pipelines.load(BILLING) is first  # not parsed again
    assert BILLING in pipelines.scheduled() and pipelines.find("gcp", "billing") == BILLING
    path = configs / "gcp" / "cost" / "billing.yml"
    path.write_text(path.read_text().replace("processor: gcp.bq_etl", "processor: gcp.nothing", 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later mtime, whatever the clock
    with pytest.raises(ConfigError, match="gcp/cost/billing"):
        pipelines.load(BILLING)
    with pytest.raises(NotFound):
        pipelines.load(PipelineRef("gcp", "cost", "nothing"))
