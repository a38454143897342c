"""The README's "Your own data, from zero" section, run exactly as written on a fresh data folder
against a real ``cloudact serve`` subprocess (its own port, its own folder)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from shared.settings import PROJECT_ROOT
from tests.cli.helpers import serving

SECTION = "## Your own data, from zero"


def readme_blocks() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end > 0 else None]
    section = section.split("\n### ")[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    serve_block, *client_blocks = readme_blocks()
    assert "cloudact serve" in serve_block
    assert client_blocks, "the section's client commands"
    with serving(tmp_path / "data", serve_block) as served:
        outputs = []
        for block in client_blocks:
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block],
                env=served.env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            assert "Traceback" not in done.stdout + done.stderr
            outputs.append(done.stdout)
        code, out, err = served.stop()
    text = "\n".join(outputs)
    # what the README says to expect
    assert "280 rows loaded into my-billing-project.billing_export." in text
    assert "a local placeholder credential" in text
    assert "status COMPLETE" in text
    assert "check_source_changed done, extract_transform done, load done" in text
    assert "9 days, 0 rows in 2 of them, 1 unchanged since their last run" in text
    assert "no source rows for 2025-10-30 in `my-billing-project." in text
    # the cost report's totals are the sample export's own, computed here from the file
    for currency, total in sample_billed_totals("2025-11-01", "2025-11-07").items():
        reported = re.search(rf"total billed cost 2025-11-01..2025-11-07: (\S+) {currency}", text)
        assert reported and Decimal(reported.group(1)) == total, (currency, total, text[-600:])
    # SIGTERM stops serve cleanly
    assert code == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def sample_billed_totals(first: str, last: str) -> dict[str, Decimal]:
    """Σ cost + Σ credits per currency over the usage days, read straight from the sample file."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    path = PROJECT_ROOT / "docs" / "examples" / "gcp_billing_export_sample.json.gz"
    with gzip.open(path, "rt") as lines:
        for line in lines:
            row = json.loads(line, parse_float=Decimal)
            if first <= row["usage_start_time"][:10] <= last:
                credits = sum((credit["amount"] for credit in row["credits"]), Decimal(0))
                totals[row["currency"]] += row["cost"] + credits
    assert totals, "the sample has rows in the range"
    return dict(totals)
