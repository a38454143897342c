"""The cost API's query on both warehouses: DuckDB and BigQuery (on ``bqemulator``) answer the same
rows and totals, and on BigQuery every job carries the byte ceiling and typed, bound parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.focus_data import COLUMN_NAMES, FOCUS_COLUMNS, FocusRow
from shared.domain.orgs import Organization
from shared.ports import Column, QueryValue, Store, TableSpec, Warehouse
from shared.services import costs
from tests.contract.test_warehouse import LABELS, RecordingSession
from tests.gcp_emulators import Emulator, unique_project

D0 = date(2026, 2, 1)
ORG = Organization(slug="acme_corp", name="Acme", dataset="acme_corp", created_at="2026-01-01T00:00:00.000Z")
ROWS = [
    FocusRow(D0, "Google Cloud", "BigQuery", Decimal("1.000000001")),
    FocusRow(D0, "Google Cloud", "BigQuery", Decimal("2.5"), sub_account="p2", sub_account_name="P2"),
    FocusRow(D0 + timedelta(days=1), "OpenAI", "gpt-4o", Decimal("0.123456789"), effective=Decimal("0.1")),
    FocusRow(D0 + timedelta(days=1), "Google Cloud", "BigQuery", Decimal("7"), currency="EUR"),
    FocusRow(D0 + timedelta(days=2), "Google Cloud", "BigQuery", Decimal("100")),  # outside the range asked
]


class NoRuns:
    """The store as an org without any COMPLETE run yet sees it (freshness is the store contract's)."""

    def list_runs(self, query: Any) -> Any:
        from shared.ports import RunPage

        return RunPage(runs=[])


def _fill(warehouse: Warehouse, project: str, *, emulated: bool = False) -> None:
    """The org's costs as one table named like the view (the query cannot tell them apart); rows go in
    with one INSERT of bound parameters, which both engines run (bqemulator loads no partition).
    bqemulator 1.4.0 cannot create a BIGNUMERIC column (the request times out on its internal
    error): there the unit price column, which the cost query does not read, is NUMERIC."""
    columns = tuple(
        Column(column.name, "NUMERIC") if emulated and column.type == "BIGNUMERIC" else column
        for column in FOCUS_COLUMNS
    )
    table = TableSpec(ORG.dataset, costs.VIEW, columns, partition_field="x_ChargeDate")
    warehouse.ensure_table(table)
    params: dict[str, QueryValue] = {}
    tuples = []
    for r, row in enumerate(ROWS):
        names = []
        for c, value in enumerate(row.values()):
            params[f"v{r}_{c}"] = value
            names.append(f"@v{r}_{c}")
        tuples.append(f"({', '.join(names)})")
    sql = f"INSERT INTO `{project}.{ORG.dataset}.{costs.VIEW}` ({', '.join(COLUMN_NAMES)}) VALUES {', '.join(tuples)}"
    warehouse.query(sql, params, labels=LABELS)


@pytest.fixture(params=["duckdb", "bigquery"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Warehouse, str]]:
    project = unique_project()
    if request.param == "duckdb":
        from shared.adapters.local.warehouse import DuckDBWarehouse

        duck = DuckDBWarehouse(tmp_path / "warehouse", project)
        _fill(duck, project)
        yield duck, project
        duck.close()
        return
    from shared.adapters.gcp.warehouse import BigQueryWarehouse

    emulator: Emulator = request.getfixturevalue("bigquery_emulator")
    bigquery = BigQueryWarehouse(project, max_bytes_billed=10 * 1024**3, api_endpoint=emulator.url)
    _fill(bigquery, project, emulated=True)
    yield bigquery, project
    bigquery.close()


def _report(warehouse: Warehouse, project: str, **args: str) -> costs.CostReport:
    query = costs.parse_query({"start": D0.isoformat(), "end": (D0 + timedelta(days=1)).isoformat(), **args})
    store: Store = NoRuns()  # type: ignore[assignment]
    return costs.report(warehouse, store, project, ORG, query, max_bytes_billed=10**9)


def test_both_warehouses_give_the_same_exact_answer(filled: tuple[Warehouse, str]) -> None:
    warehouse, project = filled
    by_day = _report(warehouse, project, group_by="day,provider,sub_account")
    assert by_day.rows == [
        {"day": "2026-02-01", "provider": "Google Cloud", "sub_account": "p2", "sub_account_name": "P2",
         "currency": "USD", "amount": "2.500000000"},
        {"day": "2026-02-01", "provider": "Google Cloud", "sub_account": "acct-1", "sub_account_name": "Account one",
         "currency": "USD", "amount": "1.000000001"},
        {"day": "2026-02-02", "provider": "Google Cloud", "sub_account": "acct-1", "sub_account_name": "Account one",
         "currency": "EUR", "amount": "7.000000000"},
        {"day": "2026-02-02", "provider": "OpenAI", "sub_account": "acct-1", "sub_account_name": "Account one",
         "currency": "USD", "amount": "0.123456789"},
    ]  # fmt: skip
    assert by_day.totals == [{"currency": "EUR", "amount": "7.000000000"}, {"currency": "USD", "amount": "3.623456790"}]
    monthly = _report(warehouse, project, group_by="month", cost="effective", provider="OpenAI")
    assert monthly.rows == [{"month": "2026-02", "currency": "USD", "amount": "0.100000000"}]


def test_bigquery_jobs_carry_the_ceiling_and_typed_parameters(bigquery_emulator: Emulator) -> None:
    from shared.adapters.gcp.warehouse import BigQueryWarehouse

    session = RecordingSession()
    project = unique_project()
    warehouse = BigQueryWarehouse(
        project, max_bytes_billed=5 * 1024**3, api_endpoint=bigquery_emulator.url, http=session
    )
    try:
        _fill(warehouse, project, emulated=True)
        session.sent.clear()
        _report(warehouse, project, group_by="service", service="x' OR '1'='1")
        (job,) = [job["configuration"] for job in session.jobs()]
    finally:
        warehouse.close()
    assert job["query"]["maximumBytesBilled"] == str(10**9)
    assert job["labels"]["org_slug"] == "acme_corp" and job["labels"]["step"] == "cost_report"
    types = {p["name"]: p["parameterType"]["type"] for p in job["query"]["queryParameters"]}
    assert types == {
        "start": "DATE",
        "end": "DATE",
        "start_ts": "TIMESTAMP",
        "end_ts": "TIMESTAMP",
        "service": "STRING",
    }
    assert "x' OR" not in job["query"]["query"] and "@service" in job["query"]["query"]
    assert "x_ChargeDate BETWEEN @start AND @end" in job["query"]["query"]
