"""`cloudact costs`, a separate process reading through the API while the stack holds the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bench import focus_data
from bench.focus_data import FocusRow
from shared.local_stack.client import ApiClient
from shared.local_stack.server import LocalStack
from shared.ports import Backend
from shared.services import onboarding

D0 = date(2025, 6, 1)
CLI = str(Path(sys.executable).parent / "cloudact")


def _cli(url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDACT_API_KEY": key, "CLOUDACT_URL": url}
    return subprocess.run([CLI, "costs", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_costs_table_json_and_csv_while_the_stack_runs(backend: Backend) -> None:
    _, key, _ = onboarding.create_org(backend, "acmecorp")
    rows = [
        FocusRow(D0 + timedelta(days=n), provider, service, Decimal(amount), currency=currency)
        for n in range(3)
        for provider, service, amount, currency in (
            ("Google Cloud", "BigQuery", "1.000000001", "USD"),
            ("OpenAI", "gpt-4o\x1b[2J", "2.5", "USD"),
            ("Google Cloud", "BigQuery", "7", "EUR"),
        )
    ]
    focus_data.write(backend.warehouses.platform(), "acmecorp", rows)
    args = ["acmecorp", "--start", D0.isoformat(), "--end", (D0 + timedelta(days=2)).isoformat(), "--by"]
    with LocalStack(port=0) as stack:
        table = _cli(stack.url, key, *args, "service,provider")
        as_json = _cli(stack.url, key, *args, "service,provider", "--format", "json")
        as_csv = _cli(stack.url, key, *args, "day", "--format", "csv")
        refused = _cli(stack.url, key, *args, "sku")
        query = f"start={D0}&end={D0 + timedelta(days=2)}&group_by=service,provider"
        api = ApiClient(stack.url, api_key=key).request("GET", f"/api/v1/costs/acmecorp?{query}")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["service", "provider", "currency", "amount"]
    assert any(line.split()[-3:] == ["Cloud", "EUR", "21.000000000"] for line in lines)
    assert "\x1b" not in table.stdout and "gpt-4o\\x1b[2J" in table.stdout  # a name cannot drive the terminal
    assert "total billed cost 2025-06-01..2025-06-03: 21.000000000 EUR" in lines
    assert "total billed cost 2025-06-01..2025-06-03: 10.500000003 USD" in lines
    assert json.loads(as_json.stdout) == api
    assert as_csv.stdout.splitlines()[0] == "day,currency,amount" and len(as_csv.stdout.splitlines()) == 1 + 3 * 2
    assert refused.returncode == 1 and "(field: group_by) [HTTP 400]" in refused.stderr
