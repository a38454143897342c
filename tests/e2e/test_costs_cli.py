"""`cloudact costs`, a separate process reading through the API while the stack holds the warehouse,
over the FOCUS rows real billing runs loaded."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench import focus_data
from bench.focus_data import FocusRow
from shared.local_stack.client import ApiClient
from shared.local_stack.server import LocalStack
from tests.conftest import YESTERDAY, Tenant, deliver_all, submit

CLI = str(Path(sys.executable).parent / "cloudact")
DAYS = [YESTERDAY - timedelta(days=1), YESTERDAY]


def _cli(url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDACT_API_KEY": key, "CLOUDACT_URL": url}
    return subprocess.run([CLI, "costs", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_costs_table_json_and_csv_while_the_stack_runs(tenant: Tenant) -> None:
    for day in DAYS:
        assert submit(tenant, day).status_code == 202
    deliver_all()
    # one name no pipeline would produce: a tenant's, with a terminal escape in it
    focus_data.write(
        tenant.backend.warehouses.platform(), "acmecorp", [FocusRow(DAYS[0], "Tenant", "x\x1b[2J", Decimal(1))]
    )
    start, end = DAYS[0].isoformat(), DAYS[-1].isoformat()
    args = ["acmecorp", "--start", start, "--end", end, "--by"]
    with LocalStack(port=0) as stack:  # this process holds the warehouse file; the CLI is another process
        table = _cli(stack.url, tenant.api_key, *args, "service,provider")
        as_json = _cli(stack.url, tenant.api_key, *args, "service,provider", "--format", "json")
        as_csv = _cli(stack.url, tenant.api_key, *args, "day,provider", "--format", "csv")
        refused = _cli(stack.url, tenant.api_key, *args, "sku")
        client = ApiClient(stack.url, api_key=tenant.api_key)
        api = client.request("GET", f"/api/v1/costs/acmecorp?start={start}&end={end}&group_by=service,provider")
        by_day = client.request("GET", f"/api/v1/costs/acmecorp?start={start}&end={end}&group_by=day,provider")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["service", "provider", "currency", "amount"]
    assert sum("Google Cloud" in line for line in lines) > 1  # the billing runs' services
    for total in api["totals"]:  # one total per currency, never one sum across them
        assert f"total billed cost {start}..{end}: {total['amount']} {total['currency']}" in lines
    assert len(api["totals"]) > 1
    assert "\x1b" not in table.stdout and "x\\x1b[2J" in table.stdout  # a name cannot drive the terminal
    assert any(line.startswith("freshness: gcp data of " + end) for line in lines)
    assert json.loads(as_json.stdout) == api
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["day", "provider", "currency", "amount"]
    assert rows[1:] == [[r["day"], r["provider"], r["currency"], r["amount"]] for r in by_day["rows"]]
    assert refused.returncode == 1 and "(field: group_by) [HTTP 400]" in refused.stderr
