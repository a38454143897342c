"""The demo, end to end over real HTTP on loopback: the README's first command in miniature."""

from __future__ import annotations

from datetime import date, timedelta

from shared import application
from shared.local_stack import billing_export
from shared.local_stack.demo import run_demo
from shared.local_stack.server import LocalStack
from shared.settings import Settings
from tests.conftest import ADMIN_KEY


def test_demo_reaches_complete_with_matching_totals(settings: Settings) -> None:
    spec = billing_export.ExportSpec(rows=30_000, days=7, end_date=date.today() - timedelta(days=1))
    lines: list[str] = []
    with LocalStack(port=0) as stack:
        outcome = run_demo(
            stack.url, ADMIN_KEY, application.current().backend.warehouses.platform(), spec, say=lines.append
        )  # type: ignore[arg-type]
    output = "\n".join(lines)
    assert outcome.ok, output
    assert '"status": "COMPLETE"' in output
    assert "equal the source export's: yes" in output
    assert output.count("equals the vendor's ground truth to the last decimal: yes") == 2
    assert "Cost summary for" in output and "OpenAI" in output and "Anthropic" in output
    # the fakes bill what their usage counts: no token line without usage, no warning
    assert output.count("token lines without usage: 0; run warnings: none") == 2, output
    assert "warning:" not in output
    assert "strict checks (enums, nulls, periods, decimals, units, unit prices): pass" in output
    assert "focus-validator 2.2.1 (FOCUS 1.2): 0 failed rules" in output, output
    assert "BilledCost across providers: " in output
