"""The demo: from nothing to a COMPLETE run on the embedded stack, checked against the source.

Onboards ``acmecorp``, stores its GCP integration encrypted, generates a synthetic billing export,
triggers ``gcp/cost/billing`` over HTTP, follows the run, prints the record and a cost-by-service
summary, and verifies the loaded day's totals against the export computed independently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.local_stack import billing_export
from shared.local_stack.client import ApiClient

ORG = "acmecorp"


def fake_service_account(project_id: str) -> dict[str, str]:
    """A service-account key of the real shape; its private key is freshly generated and unused."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem.decode(),
        "client_email": f"billing-reader@{project_id}.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def source_totals(
    warehouse: DuckDBWarehouse, table_id: str, day: date
) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """Per (service, project): SUM(cost) and SUM(credits.amount) straight from the export, by a
    different route than the pipeline's SQL (credits through UNNEST in their own query), as exact
    decimals."""
    project, dataset, table = table_id.split(".")
    name = f'"{project}"."{dataset}"."{table}"'
    warehouse.attach_project(project)
    day_filter = "CAST(usage_start_time AS DATE) = $1"
    costs = warehouse.execute_native(
        f"SELECT service.id, project.id, SUM(cost::DECIMAL(38, 9)) FROM {name} WHERE {day_filter} GROUP BY ALL", [day]
    )
    credits = warehouse.execute_native(
        "SELECT sid, pid, SUM(c.amount::DECIMAL(38, 9)) FROM (SELECT service.id AS sid, project.id AS pid, "
        f"UNNEST(credits) AS c FROM {name} WHERE {day_filter}) GROUP BY ALL",
        [day],
    )
    credit_map = {(s, p): amount for s, p, amount in credits}
    return {(s, p): (cost, credit_map.get((s, p), Decimal(0))) for s, p, cost in costs}


def loaded_totals(
    warehouse: DuckDBWarehouse, dataset: str, day: date
) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    rows = warehouse.execute_native(
        f'SELECT service_id, project_id, SUM(cost), SUM(credits) FROM "{warehouse.project}"."{dataset}".'
        "gcp_billing_daily_raw WHERE usage_date = $1 GROUP BY ALL",
        [day],
    )
    return {(s, p): (cost, credit) for s, p, cost, credit in rows}


def totals_match(expected: dict[Any, tuple[Decimal, Decimal]], actual: dict[Any, tuple[Decimal, Decimal]]) -> bool:
    # money is NUMERIC end to end: equal means equal, no tolerance
    return expected == actual


def follow(client: ApiClient, run_id: str, say: Callable[[str], None], timeout_s: float = 300) -> dict[str, Any]:
    """Polls the status API until the run ends, showing each state change and a heartbeat."""
    deadline = time.monotonic() + timeout_s
    last_status, started, last_said = None, time.monotonic(), 0.0
    while True:
        run = client.get_run(run_id)
        elapsed = time.monotonic() - started
        if run["status"] != last_status or elapsed - last_said >= 5:
            marks = {"COMPLETE": "done", "SKIPPED": "skipped", "FAILED": "failed"}
            steps = ", ".join(
                f"{s['name']} {marks.get(s['status'], s['status'].lower())}" for s in run.get("steps") or []
            )
            say(f"  {elapsed:5.1f}s  {run['status']}" + (f"  ({steps})" if steps else ""))
            last_status, last_said = run["status"], elapsed
        if run["status"] in {"COMPLETE", "FAILED"}:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['status']} after {timeout_s:.0f}s")
        time.sleep(0.2)


@dataclass(frozen=True)
class DemoOutcome:
    ok: bool
    """The run was COMPLETE and its totals equal the source's."""
    api_key: str | None = field(default=None, repr=False)
    """The demo org's API key: the user's own local key, printed to the terminal (never logged)."""


def run_demo(
    base_url: str,
    admin_key: str,
    warehouse: DuckDBWarehouse,
    spec: billing_export.ExportSpec,
    say: Callable[[str], None] = print,
) -> DemoOutcome:
    say(f"1. Generating a synthetic billing export: {spec.rows:,} rows over {spec.days} days -> {spec.table_id}")
    started = time.perf_counter()
    billing_export.generate(warehouse, spec)
    say(f"   done in {time.perf_counter() - started:.1f}s")

    admin = ApiClient(base_url, admin_key=admin_key)
    say(f"2. Onboarding organization {ORG!r} (admin API)")
    created = admin.request("POST", "/api/v1/admin/orgs", {"org_slug": ORG, "name": "Acme Corp"})
    say(f"   dataset {created['dataset']!r}, API key issued (shown once; prefix {created['api_key'][:14]}…)")
    client = ApiClient(base_url, api_key=created["api_key"])

    say("3. Storing its GCP service-account integration (encrypted at rest)")
    project = spec.table_id.split(".")[0]
    integration = client.request(
        "PUT",
        f"/api/v1/integrations/{ORG}/gcp",
        {"credential": fake_service_account(project), "billing_export_table": spec.table_id},
    )
    say(f"   stored for {integration['client_email']}; the API returns metadata only")

    day = spec.end_date
    say(f"4. Triggering gcp/cost/billing for {day.isoformat()} over HTTP")
    accepted = client.run_pipeline(ORG, "gcp/cost/billing", {"date": day.isoformat()})
    say(f"   202 {accepted['status']}: {accepted['message']}")
    say(f"5. Following run {accepted['pipeline_logging_id']}")
    run = follow(client, accepted["pipeline_logging_id"], say)
    say(json.dumps(run, indent=2))
    if run["status"] != "COMPLETE":
        say(f"Run ended {run['status']}: {run.get('error_message')}")
        return DemoOutcome(False, created["api_key"])

    say(f"6. Cost by service for {day.isoformat()} in {ORG}.gcp_billing_daily_raw")
    rows = warehouse.execute_native(
        f"SELECT service_description, currency, round(SUM(cost), 2), round(SUM(credits), 2), SUM(source_rows) "
        f'FROM "{warehouse.project}"."{created["dataset"]}".gcp_billing_daily_raw WHERE usage_date = $1 '
        "GROUP BY ALL ORDER BY 1, 2",
        [day],
    )
    say(f"   {'service':<18} {'cur':<4} {'cost':>14} {'credits':>13} {'rows':>8}")
    for service, currency, cost, credits, source_rows in rows:
        say(f"   {service:<18} {currency:<4} {cost:>14,.2f} {credits:>13,.2f} {source_rows:>8,}")
    expected = source_totals(warehouse, spec.table_id, day)
    matched = totals_match(expected, loaded_totals(warehouse, created["dataset"], day))
    say(f"7. Totals per service x project equal the source export's: {'yes' if matched else 'NO'}")
    vendors_matched = run_vendors(client, created["dataset"], warehouse, day, say)
    focus_ok = focus_step(base_url, created["api_key"], day, say)
    return DemoOutcome(matched and vendors_matched and focus_ok, created["api_key"])


def run_vendors(
    client: ApiClient, dataset: str, warehouse: DuckDBWarehouse, day: date, say: Callable[[str], None]
) -> bool:
    """The same org's OpenAI and Anthropic costs for the same day (from the local vendor fakes)."""
    from decimal import Decimal

    from shared.local_stack.vendor_demo import run_vendor_demo

    gcp_net = warehouse.execute_native(
        f"SELECT currency, round(SUM(cost) + SUM(credits), 2), COUNT(*) "
        f'FROM "{warehouse.project}"."{dataset}".gcp_billing_daily_raw WHERE usage_date = $1 GROUP BY 1 ORDER BY 1',
        [day],
    )
    gcp = [(currency, Decimal(str(net)), rows) for currency, net, rows in gcp_net]
    return run_vendor_demo(client, ORG, dataset, warehouse, day, gcp, say, follow, step=8)


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """A FOCUS file's rows as our checks take them, read with the types it carries."""
    import duckdb

    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        result = conn.execute("SELECT * FROM read_parquet($1)", [str(path)])
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        conn.close()


def focus_step(base_url: str, api_key: str, day: date, say: Callable[[str], None]) -> bool:
    """Last: the org's FOCUS 1.2 file (every provider): exported over the API, checked by us and by the FinOps
    Foundation's validator (when ``make focus-validator`` has installed it)."""
    from shared.application import current
    from shared.domain import focus
    from shared.local_stack import focus_validation
    from shared.local_stack.focus_cli import download

    out = current().settings.data_dir / f"focus-{ORG}-{day.isoformat()}.parquet"
    size = download(base_url, api_key, ORG, day, day, out)
    records = read_parquet(out)
    problems = focus.violations(records)
    say(f"FOCUS 1.2 export of {ORG} for {day.isoformat()}: {out} ({len(records):,} rows, {size:,} bytes)")
    say(f"   strict checks (enums, nulls, periods, decimals, units, unit prices): {problems or 'pass'}")
    ok = not problems
    if focus_validation.available():
        verdict = focus_validation.validate(out)
        say(f"   focus-validator 2.2.1 (FOCUS {focus_validation.VERSION}): {verdict.summary()}")
        ok = ok and verdict.ok
    else:
        say("   focus-validator not installed (make focus-validator): its verdict is skipped")
    totals: dict[str, Decimal] = {}
    for row in records:
        totals[row["BillingCurrency"]] = totals.get(row["BillingCurrency"], Decimal(0)) + row["BilledCost"]
    say("   BilledCost across providers: " + ", ".join(f"{cur} {total:,.2f}" for cur, total in sorted(totals.items())))
    return ok
