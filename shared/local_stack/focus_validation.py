"""The FinOps Foundation's ``focus-validator`` (FOCUS 1.2 ruleset) run on an exported file.

It lives in its own virtual environment (``make focus-validator``: Python 3.12, its own pins of
duckdb and numpy), runs offline (``--block-download``), and exits 0 whatever it finds, so the verdict
is read from its JUnit report, not its exit code.

One reading of that report is ours: a rule that is one branch of an OR rule (e.g. InvoiceId-C-003-C:
"null when not invoiced" OR "not null when invoiced") is reported failed whenever the other branch is
the one that holds. Such a failure is not a broken rule when its OR rule passed: it is counted apart,
as an untaken branch. Every other failure or error counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from shared.settings import PROJECT_ROOT

VERSION = "1.2"
APPLICABILITY = (
    "ACCOUNT_NAMING_SUPPORTED",
    "AVAILABILITY_ZONE_SUPPORTED",
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",
    "REGION_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "TAGGING_SUPPORTED",
)
"""What our providers support and our rows fill, so the validator checks those columns too."""


@dataclass(frozen=True)
class Verdict:
    total: int
    passed: int
    skipped: int
    failed: list[str] = field(default_factory=list)
    untaken_branches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.total > 0 and not self.failed

    def summary(self) -> str:
        text = f"{len(self.failed)} failed rules ({self.passed} passed, {self.skipped} not applicable"
        if self.untaken_branches:
            text += f", {len(self.untaken_branches)} untaken OR branches: {', '.join(self.untaken_branches)}"
        return text + ")"


def validator_venv() -> Path:
    return Path(os.environ.get("CLOUDACT_FOCUS_VALIDATOR_VENV", PROJECT_ROOT / ".venv-focus"))


def available() -> bool:
    return (validator_venv() / "bin" / "focus-validator").exists()


@lru_cache(maxsize=1)
def _package_parent() -> Path:
    """The folder holding the ``focus_validator`` package: the validator reads its currency codes
    from ``focus_validator/rules/currency_codes.csv`` relative to its working directory."""
    output = subprocess.run(  # noqa: S603 - our own virtualenv's interpreter
        [
            str(validator_venv() / "bin" / "python"),
            "-c",
            "import focus_validator, pathlib; print(pathlib.Path(focus_validator.__file__).parent.parent)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return Path(output.stdout.strip())


def _or_branches(model: dict[str, object]) -> dict[str, str]:
    """Each rule that is an item of an OR rule -> that OR rule."""
    parents: dict[str, str] = {}
    rules = model.get("ModelRules", {})
    assert isinstance(rules, dict)
    for rule_id, rule in rules.items():
        requirement = rule.get("ValidationCriteria", {}).get("Requirement", {})
        if requirement.get("CheckFunction") == "OR":
            for item in requirement.get("Items", []):
                if item.get("CheckFunction") == "CheckModelRule":
                    parents[item["ModelRuleId"]] = rule_id
    return parents


def read_report(report: Path, model_file: Path) -> Verdict:
    from xml.etree import ElementTree

    # the validator's own report, written a moment ago by the process we started
    tree = ElementTree.parse(report)  # noqa: S314
    outcomes: dict[str, str] = {}
    for case in tree.iter("testcase"):
        rule_id = (case.get("name") or "").split(" ::", 1)[0]
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[rule_id] = "failed"
        elif case.find("skipped") is not None:
            outcomes[rule_id] = "skipped"
        else:
            outcomes[rule_id] = "passed"
    parents = _or_branches(json.loads(model_file.read_text()))
    failed, untaken = [], []
    for rule_id, outcome in sorted(outcomes.items()):
        if outcome != "failed":
            continue
        parent = parents.get(rule_id)
        if parent is not None and outcomes.get(parent) == "passed":
            untaken.append(rule_id)
        else:
            failed.append(rule_id)
    return Verdict(
        total=len(outcomes),
        passed=sum(1 for outcome in outcomes.values() if outcome == "passed"),
        skipped=sum(1 for outcome in outcomes.values() if outcome == "skipped"),
        failed=failed,
        untaken_branches=untaken,
    )


def validate(data_file: Path, timeout_s: float = 600) -> Verdict:
    """Runs the validator on a .parquet or .csv FOCUS file; raises if it cannot run at all."""
    if not available():
        raise FileNotFoundError(f"focus-validator not installed in {validator_venv()}: run `make focus-validator`")
    cwd = _package_parent()
    models = sorted((cwd / "focus_validator" / "rules").glob(f"model-{VERSION}*.json"))
    if not models:
        raise FileNotFoundError(f"no FOCUS {VERSION} ruleset in {cwd / 'focus_validator' / 'rules'}")
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        completed = subprocess.run(  # noqa: S603 - fixed arguments, our own virtualenv
            [
                str(validator_venv() / "bin" / "focus-validator"),
                "--data-file",
                str(data_file.resolve()),
                "--validate-version",
                VERSION,
                "--block-download",
                "--applicability-criteria",
                ",".join(APPLICABILITY),
                "--output-type",
                "unittest",
                "--output-destination",
                str(report),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if not report.exists():
            raise RuntimeError(f"focus-validator wrote no report: {(completed.stderr or completed.stdout)[-2000:]}")
        return read_report(report, models[-1])
