"""The billing export read by partition window on the embedded stack: rows inside the window are
picked up by the daily re-runs, rows after it by the invoice-close run, and the money still adds up.
A run whose dry-run estimate exceeds its byte budget fails before anything runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared import application
from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.domain.runs import PipelineRef
from shared.local_stack import billing_export
from shared.local_stack.demo import loaded_totals, source_totals, totals_match
from shared.pipelines.schedule import invoice_close_days
from shared.services import scheduling
from tests.conftest import EXPORT_TABLE, Tenant, deliver_all, submit

DAY = date(2025, 10, 20)
CLOSE = datetime(2025, 11, 6, 6, 0, tzinfo=UTC)  # the billing pipeline's invoice_close_cron: 06:00 on the 6th
BILLING = PipelineRef("gcp", "cost", "billing")


@pytest.fixture
def export_spec() -> Any:
    return billing_export.ExportSpec(table_id=EXPORT_TABLE, rows=20_000, days=5, end_date=date(2025, 10, 22))


def _run_day(tenant: Tenant, day: date, **body: Any) -> Any:
    response = submit(tenant, day, **body)
    assert response.status_code == 202, response.get_json()
    deliver_all()
    run = tenant.backend.store.get_run(response.get_json()["pipeline_logging_id"])
    assert run is not None
    return run


def _totals(tenant: Tenant, day: date) -> tuple[Any, Any]:
    warehouse = tenant.backend.warehouses.platform()
    return (
        source_totals(warehouse, tenant.spec.table_id, day),  # type: ignore[arg-type]
        loaded_totals(warehouse, tenant.slug, day),  # type: ignore[arg-type]
    )


def test_the_local_export_carries_the_partition_of_each_rows_export_time(tenant: Tenant) -> None:
    warehouse: Any = tenant.backend.warehouses.platform()
    table = billing_export._qualified(warehouse, EXPORT_TABLE)
    rows = warehouse.execute_native(f"SELECT export_time, partition_time FROM {table} USING SAMPLE 200 ROWS")
    assert rows
    for export_time, partition_time in rows:
        assert partition_time == billing_export.partition_time_from_export_time(export_time)
        assert partition_time.astimezone(UTC).time() == datetime.min.time()


def test_rows_after_the_window_wait_for_the_invoice_close_run_which_adds_them_without_duplicates(
    tenant: Tenant,
) -> None:
    warehouse = tenant.backend.warehouses.platform()
    first = _run_day(tenant, DAY)
    assert first.status == "COMPLETE" and first.parameters["source_window_days"] == 5
    assert totals_match(*_totals(tenant, DAY))

    # rows exported two days late: inside the window, a daily re-run picks them up
    billing_export.append_late_rows(warehouse, tenant.spec, DAY, rows=300, lag_days=2)  # type: ignore[arg-type]
    assert _run_day(tenant, DAY).status == "COMPLETE"
    assert totals_match(*_totals(tenant, DAY))

    # an adjustment exported nine days late: outside the window, the daily run does not read it
    billing_export.append_late_rows(warehouse, tenant.spec, DAY, rows=200, lag_days=9)  # type: ignore[arg-type]
    forced = _run_day(tenant, DAY, force_refresh=True)
    assert forced.status == "COMPLETE"
    assert not totals_match(*_totals(tenant, DAY))

    # the invoice-close tick re-runs every day of October, each reading up to the close
    pipeline = application.current().pipelines.load(BILLING)
    assert pipeline.schedule is not None and pipeline.schedule.invoice_close_cron == "0 6 6 * *"
    report = scheduling.tick(application.current(), "close-job", CLOSE, [BILLING], invoice_close=True)
    assert report.created == 31 and not report.failures
    deliver_all(max_rounds=200)
    assert totals_match(*_totals(tenant, DAY))
    for day in (date(2025, 10, 18), date(2025, 10, 22)):  # its neighbours are right too
        assert totals_match(*_totals(tenant, day))
    rows = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT SUM(source_rows) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw WHERE usage_date = $1', [DAY]
    )[0][0]
    source_rows = warehouse.execute_native(  # type: ignore[attr-defined]
        f"SELECT COUNT(*) FROM {billing_export._qualified(warehouse, EXPORT_TABLE)}"  # type: ignore[arg-type]
        " WHERE CAST(usage_start_time AS DATE) = $1",
        [DAY],
    )[0][0]
    assert rows == source_rows  # every source row once: no duplicates

    # a repeated delivery of the same tick adds nothing
    again = scheduling.tick(application.current(), "close-job", CLOSE, [BILLING], invoice_close=True)
    assert again.created == 0 and again.duplicates == 31


def test_the_invoice_close_covers_the_closed_month_up_to_the_close() -> None:
    pipeline = application.current().pipelines.load(BILLING)
    assert pipeline.schedule is not None
    days = invoice_close_days(pipeline.schedule, CLOSE)
    assert [day for day, _ in days] == [date(2025, 10, d) for d in range(1, 32)]
    assert all((CLOSE.date() - day).days == window for day, window in days)
    window = pipeline.parameter("source_window_days")
    assert window is not None and window.maximum is not None
    assert max(w for _, w in days) <= window.maximum


def test_a_run_whose_estimate_exceeds_its_budget_fails_before_any_query_runs(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither the embedded warehouse nor bqemulator bills bytes (both estimate 0), so BigQuery's
    # estimate of an unpruned three-year scan (docs/benchmarks.md) stands in for the dry run.
    estimates: list[str] = []
    queries: list[str] = []

    def estimate(self: DuckDBWarehouse, sql: str, params: Any, **kwargs: Any) -> int:
        estimates.append(sql)
        return 101 * 1024**3 if "GROUP BY" in sql else 10**6

    original_query = DuckDBWarehouse.query

    def query(self: DuckDBWarehouse, sql: str, params: Any, **kwargs: Any) -> Any:
        queries.append(sql)
        return original_query(self, sql, params, **kwargs)

    monkeypatch.setattr(DuckDBWarehouse, "estimate_bytes", estimate)
    monkeypatch.setattr(DuckDBWarehouse, "query", query)
    run = _run_day(tenant, DAY)
    assert run.status == "FAILED"
    assert "extract_transform" in run.error_message and "over the step's budget max_bytes_billed" in run.error_message
    assert "nothing was run" in run.error_message
    assert len(estimates) == 1  # the gate had nothing to compare with: the aggregate's dry run only
    assert not [sql for sql in queries if "gcp_billing_export" in sql]  # the export was never queried
    assert [(step.name, step.status) for step in run.steps] == [
        ("check_source_changed", "COMPLETE"),
        ("extract_transform", "FAILED"),
    ]  # nothing loaded
