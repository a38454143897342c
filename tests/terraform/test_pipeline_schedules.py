"""Every scheduled pipeline file gets its Cloud Scheduler job, and nothing else does.

The expectation comes from the pipeline files themselves, read with PyYAML (and checked against
the application's own reading of them). The Terraform side is terraform/pipelines.tf, which
builds the tick jobs' for_each map: it is checked twice, statically over its HCL and, where a
``terraform`` binary exists, by evaluating it with ``terraform console``. That file refers to
nothing but the files under the repository root, so it evaluates on its own, without providers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from shared.domain.identifiers import PATH_SEGMENT
from shared.pipelines import config as pipeline_config
from shared.settings import PROJECT_ROOT
from tests.terraform import hcl
from tests.terraform.hcl import clean

PIPELINES_TF = hcl.TERRAFORM_DIR / "pipelines.tf"
TERRAFORM_BIN = os.environ.get("TERRAFORM_BIN") or shutil.which("terraform")
needs_terraform = pytest.mark.skipif(
    TERRAFORM_BIN is None, reason="terraform is not installed (no package registry here ships it); CI machines have it"
)


def yaml_schedules(repo_root: Path) -> dict[str, dict[str, str]]:
    """``provider/domain/pipeline`` -> the job Terraform must make for it, from the YAML files:
    the pipeline files are ``configs/<provider>/<domain>/<pipeline>.yml`` with lowercase names
    (as the application discovers them), and those with a ``schedule`` block are scheduled."""
    expected = {}
    for path in sorted((repo_root / "configs").glob("*/*/*.yml")):
        parts = path.relative_to(repo_root / "configs").with_suffix("").parts
        if not all(PATH_SEGMENT.fullmatch(part) for part in parts):
            continue
        document = yaml.safe_load(path.read_text())
        schedule = document.get("schedule") if isinstance(document, dict) else None
        if schedule:
            ref = "/".join(parts)
            expected[ref] = {
                "job_id": "-".join(parts),
                "cron": schedule["cron"],
                "time_zone": schedule.get("timezone", "UTC"),
                "pipeline": ref,
            }
    return expected


def _locals() -> dict[str, Any]:
    with PIPELINES_TF.open() as handle:
        return hcl.parse_module({"pipelines.tf": hcl2.load(handle)}).locals


def _terraform_view(repo_root: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    """local.scheduled_pipelines as Terraform computes it for the tree at ``repo_root``: pipelines.tf
    alone, copied into <repo_root>/terraform/, so its "${path.module}/.." is that tree."""
    module_dir = repo_root / "terraform"
    module_dir.mkdir(exist_ok=True)
    shutil.copy(PIPELINES_TF, module_dir / "pipelines.tf")
    result = subprocess.run(
        [str(TERRAFORM_BIN), "console"],
        input="jsonencode(local.scheduled_pipelines)\n",
        cwd=module_dir,
        # a CLI configuration of our own: the machine's may be missing or point at mirrors
        env={**os.environ, "TF_CLI_CONFIG_FILE": str(_empty_file(tmp_path / "terraformrc")), "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # console prints the string in HCL quoting (JSON-compatible here: no template sequences)
    evaluated = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    return {
        ref: {
            "job_id": job["job_id"],
            "cron": job["cron"],
            "time_zone": job["time_zone"],
            "pipeline": json.loads(job["body"])["pipeline"],
        }
        for ref, job in evaluated.items()
    }


def _empty_file(path: Path) -> Path:
    path.write_text("")
    return path


def test_the_yaml_reading_matches_the_applications() -> None:
    """The reference below is the application's view: the same files, the same schedules."""
    configs = PROJECT_ROOT / "configs"
    application = {}
    for ref in pipeline_config.discover(configs):
        schedule = pipeline_config.load(configs, ref).schedule
        if schedule is not None:
            application[ref.path] = (schedule.cron, schedule.timezone)
    expected = yaml_schedules(PROJECT_ROOT)
    assert {ref: (job["cron"], job["time_zone"]) for ref, job in expected.items()} == application
    assert "gcp/cost/billing" in expected  # the repository has scheduled pipelines to check


def test_pipelines_tf_covers_every_scheduled_pipeline_file() -> None:
    """Static: the HCL selects the files the application discovers and keeps those with a schedule."""
    locals_ = _locals()
    assert clean(locals_["repo_root"]) == "${path.module}/.."
    files = locals_["pipeline_files"]
    glob = re.search(r'fileset\(local\.repo_root, "([^"]+)"\)', files)
    segment = re.search(r'can\(regex\("([^"]+)", segment\)\)', files)
    assert glob and segment, files
    assert glob[1] == "configs/*/*/*.yml"
    assert segment[1] == f"^{PATH_SEGMENT.pattern}$"  # the application's own name rule
    assert 'trimsuffix(trimprefix(yml, "configs/"), ".yml") => yml' in files
    scheduled = locals_["scheduled_pipelines"]
    assert "for ref, document in local.pipeline_documents" in scheduled
    assert "if try(document.schedule, null) != null" in scheduled
    for attribute in (
        'job_id = join("-", split("/", ref))',
        "cron = document.schedule.cron",
        'time_zone = try(document.schedule.timezone, "UTC")',
        "body = jsonencode({pipeline = ref})",
    ):
        assert attribute in scheduled, attribute
    # ... and every scheduled file is one those expressions select
    for ref in yaml_schedules(PROJECT_ROOT):
        relative = f"configs/{ref}.yml"
        # Terraform's fileset "*" stops at "/", as fnmatch's does not: compare level by level
        assert all(
            fnmatchcase(part, pattern) for part, pattern in zip(relative.split("/"), glob[1].split("/"), strict=True)
        )
        assert all(re.fullmatch(segment[1].strip("^$"), part) for part in ref.split("/"))


def test_pipelines_tf_stands_alone() -> None:
    """It refers to nothing but itself, so the console evaluation below is of the real thing."""
    with PIPELINES_TF.open() as handle:
        alone = hcl.parse_module({"pipelines.tf": hcl2.load(handle)})
    assert hcl.undefined_references(alone) == []
    assert not alone.variables and not alone.resources and not alone.data
    text = " ".join(hcl.strings(list(alone.locals.values())))
    assert "var." not in text and "data." not in text and "google_" not in text


@needs_terraform
def test_terraform_schedules_exactly_the_scheduled_pipelines_of_the_repository(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "configs", tree / "configs")
    expected = yaml_schedules(PROJECT_ROOT)
    assert expected
    assert _terraform_view(tree, tmp_path) == expected


@needs_terraform
def test_terraform_and_the_yaml_agree_on_the_edge_cases(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    files = {
        "configs/gcp/cost/billing.yml": 'schedule:\n  cron: "0 4 * * *"\n  timezone: Europe/Berlin\n',
        "configs/gcp/cost/no_zone.yml": 'schedule:\n  cron: "*/30 * * * *"\n',  # the application's UTC
        "configs/gcp/cost/unscheduled.yml": "pipeline:\n  name: unscheduled\n",
        "configs/gcp/cost/null_schedule.yml": "schedule:\n",
        "configs/aws/usage_2/cur_daily.yml": 'schedule:\n  cron: "15 2 * * 1"\n  timezone: UTC\n',
        # not pipelines to the application: a name it does not accept, the wrong depth
        "configs/gcp/cost/Billing.yml": 'schedule:\n  cron: "0 1 * * *"\n',
        "configs/gcp/cost/cost-daily.yml": 'schedule:\n  cron: "0 1 * * *"\n',
        "configs/gcp/9cost/daily.yml": 'schedule:\n  cron: "0 1 * * *"\n',
        "configs/gcp/too_shallow.yml": 'schedule:\n  cron: "0 1 * * *"\n',
        "configs/gcp/cost/deeper/too_deep.yml": 'schedule:\n  cron: "0 1 * * *"\n',
        "configs/gcp/cost/sql/query.sql": "SELECT 1\n",
    }
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    expected = yaml_schedules(tree)
    assert set(expected) == {"gcp/cost/billing", "gcp/cost/no_zone", "aws/usage_2/cur_daily"}
    assert expected["gcp/cost/no_zone"]["time_zone"] == "UTC"
    assert expected["aws/usage_2/cur_daily"]["job_id"] == "aws-usage_2-cur_daily"
    assert _terraform_view(tree, tmp_path) == expected


@needs_terraform
def test_terraform_makes_one_invoice_close_job_per_pipeline_that_asks_for_it(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "configs", tree / "configs")
    (tree / "configs" / "gcp" / "cost" / "daily_only.yml").write_text('schedule:\n  cron: "0 4 * * *"\n')
    module_dir = tree / "terraform"
    module_dir.mkdir()
    shutil.copy(PIPELINES_TF, module_dir / "pipelines.tf")
    result = subprocess.run(
        [str(TERRAFORM_BIN), "console"],
        input="jsonencode(local.invoice_close_pipelines)\n",
        cwd=module_dir,
        env={**os.environ, "TF_CLI_CONFIG_FILE": str(_empty_file(tmp_path / "terraformrc")), "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    billing = yaml.safe_load((PROJECT_ROOT / "configs" / "gcp" / "cost" / "billing.yml").read_text())["schedule"]
    assert set(evaluated) == {"gcp/cost/billing"}  # not the pipeline without an invoice_close_cron
    job = evaluated["gcp/cost/billing"]
    assert (job["job_id"], job["cron"], job["time_zone"]) == (
        "gcp-cost-billing-invoice-close",
        billing["invoice_close_cron"],
        billing["timezone"],
    )
    assert json.loads(job["body"]) == {"pipeline": "gcp/cost/billing", "invoice_close": True}
