"""The Terraform module passes checkov (offline) and terraform fmt.

checkov lives in its own virtual environment (its pins clash with the project's): CI installs it
there and points CHECKOV_BIN at it. A missing checkov fails the test, so a CI run cannot go green
without the scan.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.settings import PROJECT_ROOT

CHECKOV_BIN = Path(os.environ.get("CHECKOV_BIN", PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"))
TERRAFORM_BIN = os.environ.get("TERRAFORM_BIN") or shutil.which("terraform")


def _checkov(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHECKOV_BIN.exists(), (
        f"checkov not found at {CHECKOV_BIN}: install it with "
        "`python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30` or set CHECKOV_BIN"
    )
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no Bridgecrew/Prisma mapping download
    return subprocess.run(
        [str(CHECKOV_BIN), "-d", "terraform", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _reports(stdout: str) -> list[dict[str, Any]]:
    parsed = json.loads(stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def test_checkov_finds_no_failed_check() -> None:
    result = _checkov("--quiet", "--compact", "-o", "json")
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = [report for report in _reports(result.stdout) if report.get("check_type") == "terraform"]
    assert reports, f"checkov scanned no Terraform: {result.stdout[:500]}"
    summary = reports[0]["summary"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in reports[0]["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert summary["passed"] >= 40  # it really evaluated the module, not an empty folder
    assert result.returncode == 0


def test_terraform_files_are_formatted() -> None:
    if TERRAFORM_BIN is None:
        pytest.skip("terraform is not installed (no package registry here ships it); CI machines have it")
    result = subprocess.run(
        [TERRAFORM_BIN, "fmt", "-check", "-recursive", "-diff", "terraform"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:]
