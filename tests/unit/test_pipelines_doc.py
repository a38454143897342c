"""docs/pipelines.md's worked example, copied out of the page, validated, and run end to end."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import application
from shared.application import Application
from shared.local_stack.demo import source_totals
from shared.local_stack.validation import check_configs, check_file
from shared.settings import PROJECT_ROOT
from tests.conftest import Tenant, deliver_all, function_client, other_settings

DOC = PROJECT_ROOT / "docs" / "pipelines.md"


def example_files() -> dict[str, str]:
    """Each fenced yaml/sql block whose first line names its path under configs/."""
    files = {}
    for body in re.findall(r"```(?:yaml|sql)\n(.*?)```", DOC.read_text(), flags=re.DOTALL):
        first = body.splitlines()[0]
        named = re.fullmatch(r"(?:#|--) (configs/\S+)", first)
        if named:
            files[named.group(1)] = body
    return files


@pytest.fixture
def configs(app: Application, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", root)
    for relative, text in example_files().items():
        (tmp_path / relative).write_text(text)
    with other_settings(configs_dir=root):
        yield root


def test_the_page_has_the_example_and_every_option_it_documents() -> None:
    assert set(example_files()) == {"configs/gcp/cost/project_daily.yml", "configs/gcp/cost/sql/project_daily.sql"}
    from shared.pipelines.processors.gcp_bq_etl import BqEtlConfig

    text = DOC.read_text()
    options = {field.alias or name for name, field in BqEtlConfig.model_fields.items()}
    assert not [option for option in options if f"`{option}`" not in text]
    for placeholder in ("`{source}`", "`@date`", "`@name`"):
        assert placeholder in text


def test_the_worked_example_validates_and_runs(tenant: Tenant, configs: Path) -> None:
    assert check_file(configs / "gcp" / "cost" / "project_daily.yml") == []
    assert check_configs(configs) == []
    day = tenant.spec.end_date
    submit = function_client("submit")
    url = f"/api/v1/pipelines/run/{tenant.slug}/gcp/cost/project_daily"
    accepted = submit.post(url, json={"date": day.isoformat()}, headers=tenant.headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["pipeline_id"] == "acmecorp-gcp-project_daily"
    deliver_all()
    status = function_client("status")
    run = status.get(f"/api/v1/pipelines/runs/{accepted.get_json()['pipeline_logging_id']}", headers=tenant.headers)
    body = run.get_json()
    assert body["status"] == "COMPLETE", body
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("check_source_changed", "COMPLETE"),
        ("extract", "COMPLETE"),
        ("load", "COMPLETE"),
    ]
    # per project: the loaded totals equal the export's, computed another way
    warehouse = application.current().backend.warehouses.platform()
    expected: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (_service, project), (cost, credits) in source_totals(warehouse, tenant.spec.table_id, day).items():  # type: ignore[arg-type]
        expected[project][0] += float(cost)
        expected[project][1] += float(credits)
    org = application.current().backend.store.get_org(tenant.slug)
    assert org is not None
    loaded = warehouse.execute_native(  # type: ignore[attr-defined]
        f'SELECT project_id, SUM(cost), SUM(credits) FROM "cloudact-local"."{org.dataset}".gcp_project_daily '
        "WHERE usage_date = $1 GROUP BY ALL",
        [day],
    )
    assert {p for p, _, _ in loaded} == set(expected)
    for project, cost, credits in loaded:
        assert cost == pytest.approx(expected[project][0]) and credits == pytest.approx(expected[project][1])
    # the same day again: the gate skips it
    again = submit.post(url, json={"date": day.isoformat()}, headers=tenant.headers).get_json()
    deliver_all()
    second = status.get(f"/api/v1/pipelines/runs/{again['pipeline_logging_id']}", headers=tenant.headers).get_json()
    assert second["skip_reason"].startswith("source unchanged since run")
    assert [s["status"] for s in second["steps"]] == ["COMPLETE", "SKIPPED", "SKIPPED"]


def test_a_broken_example_is_reported_with_file_and_line(configs: Path) -> None:
    path = configs / "gcp" / "cost" / "project_daily.yml"
    text = path.read_text().replace("type: DATE, mode: REQUIRED", "type: DAY, mode: REQUIRED")
    path.write_text(text)
    (problem,) = check_file(path, "project_daily.yml")
    line = next(i for i, content in enumerate(text.splitlines(), 1) if "type: DAY" in content)
    assert problem.startswith(f"project_daily.yml:{line}: steps.2: step load: config.schema.0.type:"), problem
