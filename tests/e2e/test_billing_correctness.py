"""The daily table against the source export, computed independently, across days and re-runs."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shared.local_stack import billing_export
from shared.local_stack.demo import loaded_totals, source_totals, totals_match
from shared.ports import JobLabels
from tests.conftest import Tenant, deliver_all, submit


def _run_day(tenant: Tenant, day: date, **body: Any) -> dict[str, Any]:
    response = submit(tenant, day, **body)
    assert response.status_code == 202, response.get_json()
    deliver_all()
    run = tenant.backend.store.get_run(response.get_json()["pipeline_logging_id"])
    assert run is not None and run.status == "COMPLETE", run
    return run.public()


def _day_rows(tenant: Tenant, day: date) -> list[tuple[Any, ...]]:
    return tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        'SELECT * EXCLUDE (source_export_time) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw '
        "WHERE usage_date = $1 ORDER BY ALL",
        [day],
    )


def test_every_day_matches_the_source_and_reruns_are_idempotent(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    days = [tenant.spec.start_date + timedelta(days=offset) for offset in range(tenant.spec.days)]
    for day in days:
        _run_day(tenant, day)
    for day in days:
        expected = source_totals(warehouse, tenant.spec.table_id, day)  # type: ignore[arg-type]
        assert expected, day
        assert totals_match(expected, loaded_totals(warehouse, "acmecorp", day)), day  # type: ignore[arg-type]

    before = {day: _day_rows(tenant, day) for day in days}
    _run_day(tenant, days[2])
    after = {day: _day_rows(tenant, day) for day in days}
    assert after == before  # same day re-run: identical; other days untouched


def test_aggregation_keeps_one_row_per_grain_and_counts_every_source_row(tenant: Tenant) -> None:
    day = tenant.spec.end_date
    _run_day(tenant, day)
    warehouse = tenant.backend.warehouses.platform()
    grain = warehouse.execute_native(  # type: ignore[attr-defined]
        "SELECT COUNT(*),"
        " COUNT(DISTINCT (service_id, sku_id, project_id, cost_type, currency, invoice_month, pricing_unit,"
        " billing_account_id, region, zone, usage_unit, labels_json)),"
        ' SUM(source_rows) FROM "cloudact-local".acmecorp.gcp_billing_daily_raw WHERE usage_date = $1',
        [day],
    )[0]
    source_rows = warehouse.execute_native(  # type: ignore[attr-defined]
        'SELECT COUNT(*) FROM "acme-billing-export".billing_export.gcp_billing_export_v1_TEST '
        "WHERE CAST(usage_start_time AS DATE) = $1",
        [day],
    )[0][0]
    assert grain[0] == grain[1]
    assert grain[2] == source_rows


def test_late_rows_are_picked_up_by_a_rerun_without_duplicates(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    day = tenant.spec.end_date - timedelta(days=1)
    _run_day(tenant, day)
    billing_export.append_late_rows(warehouse, tenant.spec, day, rows=500)  # type: ignore[arg-type]
    expected = source_totals(warehouse, tenant.spec.table_id, day)  # type: ignore[arg-type]
    assert not totals_match(expected, loaded_totals(warehouse, "acmecorp", day))  # type: ignore[arg-type]
    _run_day(tenant, day)
    assert totals_match(expected, loaded_totals(warehouse, "acmecorp", day))  # type: ignore[arg-type]


def test_history_table_answers_the_seeds_recent_runs_query(tenant: Tenant) -> None:
    first = _run_day(tenant, tenant.spec.end_date)
    second = _run_day(tenant, tenant.spec.end_date - timedelta(days=1))
    rows = tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        """SELECT run_id, pipeline_id, status, started_at, rows_processed
        FROM "cloudact-local".organizations.org_meta_pipeline_runs
        WHERE org_slug = 'acmecorp'
        ORDER BY started_at DESC
        LIMIT 10"""
    )
    assert [row[0] for row in rows] == [second["pipeline_logging_id"], first["pipeline_logging_id"]]
    assert all(row[1] == "acmecorp-gcp-billing" and row[2] == "COMPLETE" for row in rows)
    assert rows[1][4] == first["rows_processed"]


def _exact(value: float | None) -> Decimal:
    # what NUMERIC holds for a FLOAT64: the shortest decimal that round-trips, to 9 places
    return Decimal(repr(value or 0.0)).quantize(Decimal("1e-9"))


def test_money_is_exact_decimal_equal_to_an_independent_decimal_sum(tenant: Tenant) -> None:
    day = tenant.spec.end_date
    _run_day(tenant, day)
    warehouse = tenant.backend.warehouses.platform()
    # independent: every source row into Python, each float to a Decimal, summed per group there
    expected: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for service, currency, cost_type, cost, credit_amounts, at_list in warehouse.execute_native(  # type: ignore[attr-defined]
        "SELECT service.id, currency, cost_type, cost, [c.amount FOR c IN credits], cost_at_list "
        'FROM "acme-billing-export".billing_export.gcp_billing_export_v1_TEST '
        "WHERE CAST(usage_start_time AS DATE) = $1",
        [day],
    ):
        totals = expected[(service, currency, cost_type)]
        totals[0] += _exact(cost)
        totals[1] += sum((_exact(amount) for amount in credit_amounts), Decimal(0))
        totals[2] += _exact(at_list)
        totals[3] += 1
    result = warehouse.query(
        "SELECT service_id, currency, cost_type, SUM(cost) AS cost, SUM(credits) AS credits,"
        " SUM(cost_at_list) AS cost_at_list, SUM(source_rows) AS source_rows,"
        " SUM(credits_discount + credits_promotion - credits) AS split_error"
        " FROM acmecorp.gcp_billing_daily_raw WHERE usage_date = @day GROUP BY 1, 2, 3",
        {"day": day},
        labels=JobLabels("acmecorp", "test", "check"),
    )
    loaded = {}
    for service, currency, cost_type, cost, credits, at_list, rows, split_error in result.rows:
        assert all(isinstance(value, Decimal) for value in (cost, credits, at_list)), (cost, credits, at_list)
        assert split_error == 0
        loaded[(service, currency, cost_type)] = [cost, credits, at_list, rows]
    assert loaded == {key: totals for key, totals in expected.items()}
    assert len(loaded) > 10 and any(totals[1] != 0 for totals in loaded.values())
