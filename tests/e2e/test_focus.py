"""The FOCUS 1.2 table: written by the billing run, and every invariant of docs/focus.md held."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain import focus
from shared.ports import Column, JobLabels, TableSpec
from tests.conftest import Tenant, deliver_all, submit

LABELS = JobLabels("acmecorp", "test", "check")


def _run_day(tenant: Tenant, day: date, **body: Any) -> dict[str, Any]:
    response = submit(tenant, day, **body)
    assert response.status_code == 202, response.get_json()
    deliver_all()
    run = tenant.backend.store.get_run(response.get_json()["pipeline_logging_id"])
    assert run is not None
    return run.public()


def _focus_rows(tenant: Tenant, where: str = "TRUE", params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = tenant.backend.warehouses.platform().query(
        f"SELECT * FROM {tenant.slug}.focus_costs WHERE {where}", params or {}, labels=LABELS
    )
    return result.records()


def _exact(value: float | None) -> Decimal:
    return Decimal(repr(value or 0.0)).quantize(Decimal("1e-9"))


def _source(tenant: Tenant, days: list[date]) -> list[tuple[Any, ...]]:
    return tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        "SELECT billing_account_id, invoice.month, currency, cost, [c.amount FOR c IN credits], cost_at_list"
        ' FROM "acme-billing-export".billing_export.gcp_billing_export_v1_TEST'
        " WHERE CAST(usage_start_time AS DATE) IN (SELECT UNNEST($1::DATE[]))",
        [days],
    )


def test_focus_rows_keep_every_invariant(tenant: Tenant) -> None:
    days = [tenant.spec.end_date - timedelta(days=offset) for offset in range(3)]
    for day in days:
        assert _run_day(tenant, day)["status"] == "COMPLETE"
    rows = _focus_rows(tenant)
    assert focus.violations(rows) == []

    # Σ BilledCost per (provider, account, billing period, currency) = Σ cost + Σ credits invoiced,
    # computed from the export row by row in Python decimals; Σ ListCost = Σ cost_at_list
    invoiced: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    at_list: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for account, month, currency, cost, credits, cost_at_list in _source(tenant, days):
        period = datetime(int(month[:4]), int(month[4:]), 1, tzinfo=UTC)
        key = ("Google Cloud", account, period, currency)
        invoiced[key] += _exact(cost) + sum((_exact(amount) for amount in credits), Decimal(0))
        at_list[key] += _exact(cost_at_list)
    assert focus.billed_totals(rows) == invoiced
    listed: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["ChargeCategory"] != "Credit":  # a Credit row's ListCost is its BilledCost (FOCUS)
            key = (row["ProviderName"], row["BillingAccountId"], row["BillingPeriodStart"], row["BillingCurrency"])
            listed[key] += row["ListCost"]
    assert listed == at_list

    categories = {row["ChargeCategory"] for row in rows}
    assert {"Usage", "Credit", "Tax", "Adjustment"} <= categories
    assert all(row["ChargePeriodEnd"] - row["ChargePeriodStart"] == timedelta(days=1) for row in rows)
    assert {row["x_ChargeDate"] for row in rows} == set(days)
    assert all(isinstance(row[name], Decimal) for row in rows for name in focus.MONEY)


def test_strict_checks_catch_what_they_promise() -> None:
    good = {
        "BilledCost": Decimal("1.5"),
        "EffectiveCost": Decimal("1.5"),
        "ListCost": Decimal("2"),
        "ContractedCost": Decimal("1.5"),
        "BillingAccountId": "A",
        "BillingAccountName": "A",
        "BillingCurrency": "USD",
        "BillingPeriodStart": datetime(2025, 11, 1, tzinfo=UTC),
        "BillingPeriodEnd": datetime(2025, 12, 1, tzinfo=UTC),
        "ChargePeriodStart": datetime(2025, 11, 2, tzinfo=UTC),
        "ChargePeriodEnd": datetime(2025, 11, 3, tzinfo=UTC),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": "x",
        "ChargeFrequency": "Usage-Based",
        "InvoiceIssuerName": "Google Cloud",
        "ProviderName": "Google Cloud",
        "PublisherName": "Google Cloud",
        "PricingQuantity": Decimal(3),
        "PricingUnit": "Hours",
        "PricingCategory": "Standard",
        "ConsumedQuantity": Decimal(3),
        "ConsumedUnit": "Hours",
        "ServiceCategory": "Compute",
        "ServiceSubcategory": "Virtual Machines",
        "ServiceName": "Compute Engine",
        "SkuId": "S",
        "SubAccountId": "p",
        "SubAccountName": "p",
    }
    assert focus.violations([good]) == []
    # the unit forms FOCUS 1.2 allows, and a unit price whose product gives back ListCost
    for unit in ("1000 Tokens", "Tokens", "1000 Requests", "GiB-Months", "Requests/Hour", "Requests/3 Months"):
        assert focus.violations([{**good, "PricingUnit": unit, "ConsumedUnit": unit}]) == [], unit
    priced = {**good, "ListUnitPrice": Decimal("0.666666666666666667"), "ListCost": Decimal(2)}
    assert focus.violations([priced]) == []
    broken = {
        "ChargeCategory": ("Refund", "not an allowed value"),
        "ServiceCategory": ("Cloud", "not an allowed value"),
        "ServiceSubcategory": ("Caching", "is not under ServiceCategory"),
        "BilledCost": (1.5, "not a decimal"),
        "ServiceName": (None, "ServiceName is null"),
        "ChargePeriodEnd": (datetime(2025, 11, 2, tzinfo=UTC), "is not after"),
        "PricingUnit": (None, "not null together"),
        "BillingCurrency": ("usd", "ISO 4217"),
        "SubAccountName": (None, "not null together"),
        "ConsumedUnit": ("tokens (cached)", "not in FOCUS unit format"),
        "ListUnitPrice": (Decimal("0.6666667"), "ListUnitPrice x PricingQuantity differs from ListCost"),
    }
    for column, (value, message) in [*broken.items(), ("PricingUnit", ("1M Tokens", "not in FOCUS unit format"))]:
        found = focus.violations([{**good, column: value}])
        assert found and message in found[0], (column, found)
    assert (
        "mandatory column ListCost missing" in focus.violations([{k: v for k, v in good.items() if k != "ListCost"}])[0]
    )
    tax = {**good, "ChargeCategory": "Tax"}
    assert any("on a Tax row" in line for line in focus.violations([tax]))
    assert focus.violations([]) == ["no rows"]


def test_rerunning_a_day_replaces_that_providers_day_only(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    day, other_day = tenant.spec.end_date, tenant.spec.end_date - timedelta(days=1)
    for each in (day, other_day):
        assert _run_day(tenant, each)["status"] == "COMPLETE"
    # another provider's FOCUS table with a row for the same day, in the same view
    other = TableSpec(
        dataset="acmecorp",
        name="focus_other",
        columns=tuple(Column(name, kind) for name, kind in _columns_of(tenant, "focus_gcp")),
        partition_field="x_ChargeDate",
    )
    template = _focus_rows(tenant, "x_ChargeDate = @day", {"day": day})[0]
    foreign = {**template, "ProviderName": "Other Cloud", "x_Provider": "other", "BilledCost": Decimal("7.000000001")}
    warehouse.replace_partition(other, day, list(foreign), [list(foreign.values())], labels=LABELS)
    warehouse.ensure_union_view("acmecorp", "focus_costs", "focus_")

    before = {each: _focus_rows(tenant, "x_ChargeDate = @day", {"day": each}) for each in (day, other_day)}
    assert [row for row in before[day] if row["x_Provider"] == "other"] == [foreign]
    rerun = _run_day(tenant, day, force_refresh=True)
    assert rerun["status"] == "COMPLETE"
    after = {each: _focus_rows(tenant, "x_ChargeDate = @day", {"day": each}) for each in (day, other_day)}

    def without_run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(({**row, "x_RunId": None} for row in rows), key=repr)

    assert without_run(after[day]) == without_run(before[day])  # same rows, the new run's id
    assert {row["x_RunId"] for row in after[day] if row["x_Provider"] == "gcp"} == {rerun["pipeline_logging_id"]}
    assert [row for row in after[day] if row["x_Provider"] == "other"] == [foreign]
    assert after[other_day] == before[other_day]


def _columns_of(tenant: Tenant, table: str) -> list[tuple[str, str]]:
    kinds = {
        "DECIMAL(38,9)": "NUMERIC",
        "DECIMAL(38,18)": "BIGNUMERIC",
        "VARCHAR": "STRING",
        "DATE": "DATE",
        "BIGINT": "INT64",
    }
    rows = tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'acmecorp' AND table_name = $1"
        " ORDER BY column_index",
        [table],
    )
    return [(name, kinds.get(kind, "TIMESTAMP")) for name, kind in rows]


def test_a_focus_failure_fails_the_run_with_a_clear_message_and_a_rerun_repairs_it(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    day = tenant.spec.end_date
    # a FOCUS table of the wrong shape, as a botched manual change would leave it
    warehouse.execute_native('CREATE SCHEMA IF NOT EXISTS "cloudact-local".acmecorp')  # type: ignore[attr-defined]
    warehouse.execute_native('CREATE TABLE "cloudact-local".acmecorp.focus_gcp (x_ChargeDate DATE)')  # type: ignore[attr-defined]
    run = _run_day(tenant, day)
    assert run["status"] == "FAILED"
    message = run["error_message"]
    assert message.startswith("Pipeline execution failed: FOCUS load failed: ") and "BilledCost" in message, message
    assert [step["status"] for step in run["steps"]][-1] == "FAILED"

    warehouse.execute_native('DROP TABLE "cloudact-local".acmecorp.focus_gcp')  # type: ignore[attr-defined]
    repaired = _run_day(tenant, day)
    assert repaired["status"] == "COMPLETE"
    assert focus.violations(_focus_rows(tenant)) == []


def test_a_tiny_unit_price_over_a_large_quantity_gives_back_the_list_cost(tenant: Tenant) -> None:
    # a price per request far below 1e-9 a unit (e.g. 0.4 per million requests): a unit price kept to
    # 9 decimals would miss ListCost by its rounding error times twelve million
    day = tenant.spec.end_date
    warehouse = tenant.backend.warehouses.platform()
    warehouse.execute_native(  # type: ignore[attr-defined]
        'UPDATE "acme-billing-export".billing_export.gcp_billing_export_v1_TEST'
        " SET cost = 4.938271249, cost_at_list = 4.938271249,"
        " usage = {'amount': 12345678.123456789, 'unit': 'requests',"
        " 'amount_in_pricing_units': 12345678.123456789, 'pricing_unit': 'request'}"
        ' WHERE sku.id = (SELECT MIN(sku.id) FROM "acme-billing-export".billing_export.gcp_billing_export_v1_TEST'
        " WHERE CAST(usage_start_time AS DATE) = $1 AND cost_type = 'regular')",
        [day],
    )
    assert _run_day(tenant, day)["status"] == "COMPLETE"
    rows = _focus_rows(tenant, "x_ChargeDate = @day AND PricingUnit = 'Requests'", {"day": day})
    large = [row for row in rows if row["PricingQuantity"] > 10_000_000]
    assert large, rows
    for row in large:
        assert abs(row["ListUnitPrice"] * row["PricingQuantity"] - row["ListCost"]) <= Decimal("1e-9"), row
    assert focus.violations(_focus_rows(tenant)) == []


def test_a_focus_table_of_an_earlier_version_is_brought_up_to_its_schema(tenant: Tenant) -> None:
    # an earlier version's table: unit prices to 9 places and no Tags column, with a day in it
    day, earlier_day = tenant.spec.end_date, tenant.spec.end_date - timedelta(days=1)
    assert _run_day(tenant, earlier_day)["status"] == "COMPLETE"
    warehouse = tenant.backend.warehouses.platform()
    before = _focus_rows(tenant, "x_ChargeDate = @day", {"day": earlier_day})
    table = '"cloudact-local".acmecorp.focus_gcp'
    warehouse.execute_native(f"ALTER TABLE {table} DROP COLUMN Tags")  # type: ignore[attr-defined]
    warehouse.execute_native(f"ALTER TABLE {table} ALTER COLUMN ListUnitPrice TYPE DECIMAL(38, 9)")  # type: ignore[attr-defined]
    warehouse._evolved.clear()  # type: ignore[attr-defined]  # a new process finds the old table

    assert _run_day(tenant, day)["status"] == "COMPLETE"
    columns = dict(_columns_of(tenant, "focus_gcp"))
    assert columns["ListUnitPrice"] == "BIGNUMERIC" and "Tags" in columns, columns
    # the earlier day's rows kept, their prices to 9 places as they were, the new column empty
    after = _focus_rows(tenant, "x_ChargeDate = @day", {"day": earlier_day})
    assert len(after) == len(before) and {row["Tags"] for row in after} == {None}
    assert sum(row["BilledCost"] for row in after) == sum(row["BilledCost"] for row in before)
    assert focus.violations(_focus_rows(tenant, "x_ChargeDate = @day", {"day": day})) == []


def test_a_table_that_cannot_be_brought_up_to_its_schema_fails_the_run_naming_what_differs(tenant: Tenant) -> None:
    warehouse = tenant.backend.warehouses.platform()
    warehouse.execute_native('CREATE SCHEMA IF NOT EXISTS "cloudact-local".acmecorp')  # type: ignore[attr-defined]
    warehouse.execute_native(  # type: ignore[attr-defined]
        'CREATE TABLE "cloudact-local".acmecorp.focus_gcp (x_ChargeDate DATE, BilledCost VARCHAR)'
    )
    run = _run_day(tenant, tenant.spec.end_date)
    assert run["status"] == "FAILED"
    message = run["error_message"]
    assert "does not match its pipeline's schema" in message, message
    assert "BilledCost is STRING, declared NUMERIC" in message, message
    assert "EffectiveCost (required) is missing" in message, message
