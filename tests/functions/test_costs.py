"""The costs function: an org's FOCUS costs grouped, exact, per currency, and the pipeline catalog."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bench import focus_data
from bench.focus_data import FocusRow
from shared.ports import Backend, JobLabels, QueryResult, QueryValue
from shared.services import costs, onboarding
from tests.conftest import YESTERDAY, Tenant, deliver_all, function_client, submit

D0 = date(2025, 3, 1)


def _org(backend: Backend, slug: str) -> dict[str, str]:
    _, key, _ = onboarding.create_org(backend, slug)
    return {"X-API-Key": key}


def _rows() -> list[FocusRow]:
    rows = []
    for offset in range(10):
        day = D0 + timedelta(days=offset)
        rows += [
            FocusRow(day, "Google Cloud", "Compute Engine", Decimal("1.000000001") * (offset + 1)),
            FocusRow(day, "Google Cloud", "BigQuery", Decimal("0.100000003"), sub_account="p2", sub_account_name="P2"),
            FocusRow(
                day,
                "OpenAI",
                "gpt-4o",
                Decimal("2.5"),
                effective=Decimal("2.25"),
                list_cost=Decimal("3"),
                category="Usage",
            ),
            FocusRow(day, "Google Cloud", "Compute Engine", Decimal("7.123456789"), currency="EUR"),
        ]
    return rows


@pytest.fixture
def acme(backend: Backend) -> dict[str, str]:
    headers = _org(backend, "acmecorp")
    focus_data.write(backend.warehouses.platform(), "acmecorp", _rows())
    return headers


def _get(headers: Mapping[str, str], org: str = "acmecorp", **query: str) -> Any:
    return function_client("costs").get(f"/api/v1/costs/{org}", query_string=query, headers=dict(headers))


def _expected(rows: list[FocusRow], start: date, end: date, keys: tuple[str, ...], cost: str = "billed") -> dict:
    sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        if not start <= row.day <= end:
            continue
        fields = {"day": row.day.isoformat(), "provider": row.provider, "service": row.service}
        amount = {"billed": row.billed, "effective": row.effective or row.billed, "list": row.list_cost or row.billed}
        sums[(*(fields[k] for k in keys), row.currency)] += amount[cost]
    return {key: format(value.quantize(Decimal("1e-9")), "f") for key, value in sums.items()}


def test_grouped_amounts_are_exact_strings_and_currencies_are_never_summed(acme: dict[str, str]) -> None:
    start, end = D0 + timedelta(days=2), D0 + timedelta(days=6)
    response = _get(acme, start=start.isoformat(), end=end.isoformat(), group_by="day,service")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    got = {(row["day"], row["service"], row["currency"]): row["amount"] for row in body["rows"]}
    assert got == _expected(_rows(), start, end, ("day", "service"))
    assert all(isinstance(row["amount"], str) for row in body["rows"])
    totals = {item["currency"]: item["amount"] for item in body["totals"]}
    assert set(totals) == {"USD", "EUR"}
    assert totals["EUR"] == "35.617283945"  # 5 days x 7.123456789, alone: no dollars in it
    usd = sum((r.billed for r in _rows() if r.currency == "USD" and start <= r.day <= end), Decimal(0))
    assert Decimal(totals["USD"]) == usd
    assert body["columns"] == ["day", "service", "currency", "amount"]


def test_cost_kind_filters_and_sub_account_names(acme: dict[str, str]) -> None:
    start, end = D0.isoformat(), (D0 + timedelta(days=9)).isoformat()
    for kind in ("effective", "list"):
        body = _get(acme, start=start, end=end, group_by="provider", cost=kind, provider="OpenAI").get_json()
        expected = "22.500000000" if kind == "effective" else "30.000000000"  # 10 days x 2.25 | 3
        assert body["rows"] == [{"provider": "OpenAI", "currency": "USD", "amount": expected}]
    body = _get(acme, start=start, end=end, group_by="sub_account", service="BigQuery").get_json()
    assert body["rows"] == [{"sub_account": "p2", "sub_account_name": "P2", "currency": "USD", "amount": "1.000000030"}]
    month = _get(acme, start=start, end=end, group_by="month,charge_category", provider="OpenAI").get_json()
    assert month["rows"] == [
        {"month": "2025-03", "charge_category": "Usage", "currency": "USD", "amount": "25.000000000"}
    ]


def test_csv_when_asked(acme: dict[str, str]) -> None:
    response = _get(
        {**acme, "Accept": "text/csv"}, start=D0.isoformat(), end=D0.isoformat(), group_by="service,provider"
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == ["service", "provider", "currency", "amount"]
    assert ["Compute Engine", "Google Cloud", "EUR", "7.123456789"] in table[1:]
    assert len(table) == 5


def test_only_the_range_is_read(acme: dict[str, str], backend: Backend) -> None:
    one_day = _get(acme, start=D0.isoformat(), end=D0.isoformat(), group_by="day").get_json()
    assert {row["day"] for row in one_day["rows"]} == {D0.isoformat()}
    sql, params = costs.build_sql("p", "acmecorp", costs.parse_query({"start": "2025-03-01", "end": "2025-03-02"}))
    # constant bounds on the partition column, bound as parameters: what lets BigQuery prune
    assert "WHERE x_ChargeDate BETWEEN @start AND @end AND ChargePeriodStart >= @start_ts" in sql
    assert (str(params["start"]), str(params["end"])) == ("2025-03-01", "2025-03-02")
    assert str(params["end_ts"]) == "2025-03-03 00:00:00+00:00"
    assert "2025" not in sql


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"end": "2025-03-02"}, "start"),
        ({"start": "2025-03-02", "end": "2025-03-01"}, "end"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "end"),  # 367 days
        ({"start": "2025-03-01", "end": "2025-3-2"}, "end"),
        ({"start": "9999-12-01", "end": "9999-12-31"}, "end"),
        ({"start": "2025-03-01", "end": "2025-03-02", "group_by": "day,sku"}, "group_by"),
        ({"start": "2025-03-01", "end": "2025-03-02", "group_by": "day,service,region,provider"}, "group_by"),
        ({"start": "2025-03-01", "end": "2025-03-02", "group_by": "day,day"}, "group_by"),
        ({"start": "2025-03-01", "end": "2025-03-02", "cost": "amortized"}, "cost"),
        ({"start": "2025-03-01", "end": "2025-03-02", "project": "x"}, "project"),
        ({"start": "2025-03-01", "end": "2025-03-02", "service": ""}, "service"),
    ],
)
def test_bad_queries_get_400_naming_the_parameter(acme: dict[str, str], query: dict[str, str], field: str) -> None:
    response = _get(acme, **query)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_a_year_is_allowed(acme: dict[str, str]) -> None:
    assert _get(acme, start="2024-03-02", end="2025-03-01").status_code == 200  # 366 days


def test_hostile_filter_values_are_bound_not_spliced(acme: dict[str, str]) -> None:
    for value in ("x' OR '1'='1", "`; DROP TABLE focus_costs; --", "<img src=x onerror=alert(1)>", "é\u202e"):
        response = _get(acme, start=D0.isoformat(), end=D0.isoformat(), service=value)
        assert response.status_code == 200 and response.get_json()["rows"] == []
    assert _get(acme, start=D0.isoformat(), end=D0.isoformat()).get_json()["rows"]


def test_another_orgs_costs_are_out_of_reach(acme: dict[str, str], backend: Backend) -> None:
    globex = _org(backend, "globex")
    focus_data.write(backend.warehouses.platform(), "globex", [FocusRow(D0, "Google Cloud", "Secret", Decimal(99))])
    assert _get(globex, org="acmecorp", start=D0.isoformat(), end=D0.isoformat()).status_code == 403
    mine = _get(globex, org="globex", start=D0.isoformat(), end=D0.isoformat(), group_by="service").get_json()
    assert mine["rows"] == [{"service": "Secret", "currency": "USD", "amount": "99.000000000"}]
    theirs = _get(acme, start=D0.isoformat(), end=D0.isoformat(), group_by="service").get_json()
    assert "Secret" not in str(theirs)
    assert _get({}, start=D0.isoformat(), end=D0.isoformat()).status_code == 401


def test_an_org_without_focus_data_has_no_costs_yet(backend: Backend) -> None:
    headers = _org(backend, "initech")
    response = _get(headers, org="initech", start="2025-03-01", end="2025-03-02", group_by="day")
    assert response.status_code == 200
    assert response.get_json()["rows"] == [] and response.get_json()["totals"] == []


def test_the_byte_ceiling_goes_with_every_query(
    acme: dict[str, str], backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int | None] = []
    warehouse = backend.warehouses.platform()

    class Recording:
        def query(
            self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
        ) -> QueryResult:
            calls.append(max_bytes_billed)
            return warehouse.query(sql, params, labels=labels, max_bytes_billed=max_bytes_billed)

    org = backend.store.get_org("acmecorp")
    assert org is not None
    query = costs.parse_query({"start": "2025-03-01", "end": "2025-03-01"})
    result = costs.report(Recording(), backend.store, "cloudact-local", org, query, max_bytes_billed=12345)  # type: ignore[arg-type]
    assert calls == [12345] and result.totals
    # and each request's bytes billed are logged, with the org, for cost tracing
    (line,) = [record for record in caplog.records if record.name == "cloudact.costs"]
    assert "bytes billed" in line.getMessage() and getattr(line, "org_slug", None) == "acmecorp"


def test_a_real_run_is_what_the_api_answers_with_its_freshness(tenant: Tenant) -> None:
    """The billing pipeline's own FOCUS rows (focus_gcp, under the view), read back through the API."""
    days = [YESTERDAY - timedelta(days=1), YESTERDAY]
    run_ids = [submit(tenant, day).get_json()["pipeline_logging_id"] for day in days]
    deliver_all()
    start, end = days[0].isoformat(), days[-1].isoformat()
    body = _get(tenant.headers, start=start, end=end, group_by="day,provider,service").get_json()
    # the same sums, by a query of the pipeline's table (not the view), in the warehouse
    expected = tenant.backend.warehouses.platform().execute_native(  # type: ignore[attr-defined]
        "SELECT CAST(x_ChargeDate AS VARCHAR), ProviderName, ServiceName, BillingCurrency, SUM(BilledCost)"
        ' FROM "cloudact-local".acmecorp.focus_gcp WHERE x_ChargeDate BETWEEN $1 AND $2 GROUP BY ALL',
        [days[0], days[-1]],
    )
    assert expected, "the billing runs wrote no FOCUS rows"
    got = {(r["day"], r["provider"], r["service"], r["currency"]): Decimal(r["amount"]) for r in body["rows"]}
    assert got == {(d, p, svc, cur): amount for d, p, svc, cur, amount in expected}
    assert {day for day, *_ in got} == {start, end} and {provider for _, provider, *_ in got} == {"Google Cloud"}
    (gcp,) = body["freshness"]  # the latest COMPLETE run of the provider: the second one
    assert gcp["provider"] == "gcp" and gcp["pipeline_logging_id"] == run_ids[-1] and gcp["date"] == end
    assert gcp["source_watermark"]


def test_pipelines_lists_what_the_org_can_run(tenant: Tenant, backend: Backend) -> None:
    client = function_client("costs")
    listed = client.get("/api/v1/pipelines", headers=tenant.headers).get_json()["pipelines"]
    billing = next(item for item in listed if item["path"] == "gcp/cost/billing")
    assert billing["run_path"] == "/api/v1/pipelines/run/acmecorp/gcp/cost/billing"
    assert {"name": "date", "type": "date", "required": False, "default": "yesterday"}.items() <= billing["parameters"][
        0
    ].items()
    assert billing["required_integrations"] == [{"type": "GCP_SA", "configured": True}] and billing["ready"]
    newcomer = _org(backend, "initech")
    theirs = client.get("/api/v1/pipelines", headers=newcomer).get_json()["pipelines"]
    assert next(item for item in theirs if item["path"] == "gcp/cost/billing")["ready"] is False
    assert client.get("/api/v1/pipelines").status_code == 401
