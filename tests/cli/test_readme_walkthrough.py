"""The README's "Your own data, from zero" section, run exactly as written on a fresh data folder
against a real ``cloudact serve`` subprocess (its own port, its own folder)."""

from __future__ import annotations

import re
import subprocess
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
    # SIGTERM stops serve cleanly
    assert code == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
