"""The Warehouse contract: one suite, run against DuckDB and BigQuery (on ``bqemulator``, which
speaks BigQuery's REST API to the real ``google-cloud-bigquery`` client). Every assertion holds for
both, except where bqemulator lacks a BigQuery feature: those cases are marked as expected failures
on the emulator (strict, so they flag the day it learns the feature), and the BigQuery-only tests
further down cover the same path up to the wire.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.domain.runs import Run, RunStatus
from shared.errors import TerminalError, TransientError
from shared.ports import Column, JobLabels, TableSpec, Warehouse
from shared.services import history
from tests.gcp_emulators import Emulator, free_port, unique_project

LABELS = JobLabels(org_slug="acme_corp", run_id="3f1c2a9e-0000-4000-8000-000000000001", step="Extract Transform")
DAILY = TableSpec(
    dataset="acme_corp",
    name="daily",
    columns=(
        Column("usage_date", "DATE", "REQUIRED"),
        Column("service_id", "STRING"),
        Column("cost", "FLOAT64"),
        Column("source_rows", "INT64"),
        Column("exported_at", "TIMESTAMP"),
    ),
    partition_field="usage_date",
    clustering=("service_id",),
)
COLUMNS = [column.name for column in DAILY.columns]
DAY_1, DAY_2 = date(2026, 1, 1), date(2026, 1, 2)
EXPORTED = datetime(2026, 1, 3, 4, 5, 6, tzinfo=UTC)

PARTITION_DECORATOR_GAP = (
    "bqemulator 1.4.0 rejects load jobs into a partition decorator (table$YYYYMMDD): "
    "'Invalid table id for SQL'. Covered up to the wire by the BigQuery-only tests below."
)


@dataclass
class WarehouseUnderTest:
    warehouse: Warehouse
    project: str
    on_bqemulator: bool

    def table(self, spec: TableSpec) -> str:
        return f"`{self.project}.{spec.dataset}.{spec.name}`"

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.warehouse.query(sql, params, labels=LABELS).rows


class RecordingSession(requests.Session):
    """Sends every request on to the emulator, keeping a copy: what the client put on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, bytes]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        data = kwargs.get("data")
        body = data if isinstance(data, bytes) else (data.encode() if isinstance(data, str) else b"")
        if not body and kwargs.get("json") is not None:
            body = json.dumps(kwargs["json"]).encode()
        self.sent.append((method, url, body))
        return super().request(method, url, *args, **kwargs)

    def jobs(self) -> list[dict[str, Any]]:
        """The job resources inserted (query jobs, and load jobs' upload initiations)."""
        return [
            json.loads(body)
            for method, url, body in self.sent
            if method == "POST" and "/jobs" in url and "/queries" not in url and body.startswith(b"{")
        ]


@pytest.fixture(params=["duckdb", "bigquery"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WarehouseUnderTest]:
    project = unique_project()
    if request.param == "duckdb":
        from shared.adapters.local.warehouse import DuckDBWarehouse

        duck = DuckDBWarehouse(tmp_path / "warehouse", project)
        yield WarehouseUnderTest(duck, project, on_bqemulator=False)
        duck.close()
        return
    from shared.adapters.gcp.warehouse import BigQueryWarehouse

    emulator: Emulator = request.getfixturevalue("bigquery_emulator")
    bigquery = BigQueryWarehouse(project, max_bytes_billed=10 * 1024**3, api_endpoint=emulator.url)
    yield WarehouseUnderTest(bigquery, project, on_bqemulator=True)
    bigquery.close()


def expect_emulator_gap(request: pytest.FixtureRequest, wh: WarehouseUnderTest, reason: str) -> None:
    if wh.on_bqemulator:
        request.applymarker(pytest.mark.xfail(strict=True, raises=TerminalError, reason=reason))


def history_run(run_id: str, status: RunStatus, rows: int | None, day: str = "2026-01-01") -> Run:
    return Run(
        run_id=run_id,
        pipeline_id="acme_corp-gcp-billing",
        org_slug="acme_corp",
        provider="gcp",
        domain="cost",
        pipeline="billing",
        parameters={"date": day},
        trigger="api",
        requested_at="2026-01-02T04:00:00.000Z",
        dedupe_key="k",
        status=status,
        start_time="2026-01-02T04:00:01.000Z",
        end_time="2026-01-02T04:00:09.500Z" if status in {RunStatus.COMPLETE, RunStatus.FAILED} else None,
        duration_ms=8500,
        rows_processed=rows,
        attempt=1,
    )


# -- the contract ------------------------------------------------------------------------------
def test_datasets_and_tables_are_created_once_and_start_empty(wh: WarehouseUnderTest) -> None:
    for _ in range(2):  # idempotent: onboarding and every load call these
        wh.warehouse.ensure_dataset(DAILY.dataset)
        wh.warehouse.ensure_table(DAILY)
    assert wh.rows(f"SELECT COUNT(*) AS n FROM {wh.table(DAILY)}") == [(0,)]


def test_values_are_bound_as_typed_parameters_never_formatted_in(wh: WarehouseUnderTest) -> None:
    hostile = "x'); DROP TABLE t; --"
    result = wh.warehouse.query(
        "SELECT @text AS text, @number AS number, @ratio AS ratio, @flag AS flag, @day AS day,"
        " @moment AS moment, @nothing IS NULL AS nothing_is_null",
        {
            "text": hostile,
            "number": 42,
            "ratio": 0.25,
            "flag": True,
            "day": DAY_1,
            "moment": EXPORTED,
            "nothing": None,
        },
        labels=LABELS,
        max_bytes_billed=10**9,
    )
    assert result.columns == ("text", "number", "ratio", "flag", "day", "moment", "nothing_is_null")
    assert result.rows == [(hostile, 42, 0.25, True, DAY_1, EXPORTED, True)]
    assert result.records() == [dict(zip(result.columns, result.rows[0], strict=True))]
    assert isinstance(result.bytes_processed, int)


def test_the_run_history_upsert_replaces_by_run_id_and_repeats_harmlessly(wh: WarehouseUnderTest) -> None:
    history.ensure(wh.warehouse)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    history.record(wh.warehouse, history_run(first, RunStatus.FAILED, None))
    history.record(wh.warehouse, history_run(second, RunStatus.COMPLETE, 7, day="2026-01-02"))
    history.record(wh.warehouse, history_run(second, RunStatus.COMPLETE, 7, day="2026-01-02"))  # a retried append
    history.record(wh.warehouse, history_run(first, RunStatus.COMPLETE, 12))  # the same run, rewritten
    table = wh.table(history.RUN_HISTORY)
    rows = wh.rows(
        f"SELECT run_id, status, rows_processed, started_at, JSON_VALUE(parameters, '$.date') AS day"
        f" FROM {table} ORDER BY day"
    )
    started = datetime(2026, 1, 2, 4, 0, 1, tzinfo=UTC)
    assert rows == [(first, "COMPLETE", 12, started, "2026-01-01"), (second, "COMPLETE", 7, started, "2026-01-02")]
    assert wh.rows(f"SELECT COUNT(*) AS n FROM {table} WHERE status = @status", status="COMPLETE") == [(2,)]


def test_a_load_replaces_exactly_one_day(wh: WarehouseUnderTest, request: pytest.FixtureRequest) -> None:
    expect_emulator_gap(request, wh, PARTITION_DECORATOR_GAP)
    wh.warehouse.replace_partition(
        DAILY,
        DAY_1,
        COLUMNS,
        [(DAY_1, "compute", 1.5, 3, EXPORTED), (DAY_1, "storage", 2.0, 1, EXPORTED)],
        labels=LABELS,
    )
    wh.warehouse.replace_partition(DAILY, DAY_2, COLUMNS, [(DAY_2, "compute", 9.0, 4, EXPORTED)], labels=LABELS)
    loaded = wh.warehouse.replace_partition(
        DAILY, DAY_1, COLUMNS, [(DAY_1, "network", 0.5, 2, EXPORTED)], labels=LABELS
    )
    assert loaded.rows == 1
    assert wh.rows(f"SELECT usage_date, service_id, cost FROM {wh.table(DAILY)} ORDER BY usage_date, service_id") == [
        (DAY_1, "network", 0.5),
        (DAY_2, "compute", 9.0),
    ]


def test_loading_no_rows_empties_the_day(wh: WarehouseUnderTest, request: pytest.FixtureRequest) -> None:
    expect_emulator_gap(request, wh, PARTITION_DECORATOR_GAP)
    wh.warehouse.replace_partition(DAILY, DAY_1, COLUMNS, [(DAY_1, "compute", 1.5, 3, EXPORTED)], labels=LABELS)
    wh.warehouse.replace_partition(DAILY, DAY_2, COLUMNS, [(DAY_2, "compute", 9.0, 4, EXPORTED)], labels=LABELS)
    assert wh.warehouse.replace_partition(DAILY, DAY_1, COLUMNS, [], labels=LABELS).rows == 0
    assert wh.rows(f"SELECT usage_date FROM {wh.table(DAILY)}") == [(DAY_2,)]


def test_a_table_without_a_partition_field_cannot_take_a_day_load(wh: WarehouseUnderTest) -> None:
    unpartitioned = TableSpec(dataset="acme_corp", name="flat", columns=DAILY.columns)
    with pytest.raises(TerminalError, match="no partition field"):
        wh.warehouse.replace_partition(unpartitioned, DAY_1, COLUMNS, [], labels=LABELS)


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC 1",  # not SQL
        "SELECT * FROM `{project}.acme_corp.no_such_table`",
    ],
)
def test_a_query_that_cannot_succeed_is_terminal(wh: WarehouseUnderTest, sql: str) -> None:
    wh.warehouse.ensure_dataset("acme_corp")
    with pytest.raises(TerminalError) as raised:
        wh.rows(sql.format(project=wh.project))
    assert not isinstance(raised.value, TransientError)


def test_a_dry_run_estimates_what_the_warehouse_bills(wh: WarehouseUnderTest) -> None:
    wh.warehouse.ensure_table(DAILY)
    sql = f"SELECT SUM(cost) AS cost FROM {wh.table(DAILY)} WHERE usage_date = @day"
    estimate = wh.warehouse.estimate_bytes(sql, {"day": DAY_1}, labels=LABELS, max_bytes_billed=10**9)
    # neither the embedded warehouse nor bqemulator bills bytes: both estimate 0 (BigQuery itself
    # reports the bytes of the partitions and columns read; docs/benchmarks.md models them)
    assert isinstance(estimate, int) and estimate == 0
    if wh.on_bqemulator:  # a dry run plans the query: one that cannot run fails as it would
        with pytest.raises(TerminalError):
            wh.warehouse.estimate_bytes(
                f"SELECT no_such_column FROM {wh.table(DAILY)}", {}, labels=LABELS, max_bytes_billed=10**9
            )


# -- BigQuery only: the request on the wire, and what bqemulator cannot show ------------------------
@pytest.fixture
def recorded(bigquery_emulator: Emulator) -> Iterator[tuple[Any, RecordingSession]]:
    from shared.adapters.gcp.warehouse import BigQueryWarehouse

    session = RecordingSession()
    warehouse = BigQueryWarehouse(
        unique_project(), max_bytes_billed=5 * 1024**3, api_endpoint=bigquery_emulator.url, http=session
    )
    yield warehouse, session
    warehouse.close()


def test_query_jobs_carry_the_run_labels_a_byte_ceiling_and_typed_parameters(
    recorded: tuple[Any, RecordingSession],
) -> None:
    warehouse, session = recorded
    warehouse.query("SELECT @day AS day, @n AS n", {"day": DAY_1, "n": 3}, labels=LABELS, max_bytes_billed=10**9)
    warehouse.query("SELECT 1 AS one", {}, labels=LABELS, max_bytes_billed=10**15)  # asks above the platform's cap
    warehouse.query("SELECT 1 AS one", {}, labels=LABELS)
    first, second, third = (job["configuration"] for job in session.jobs())
    assert first["labels"] == {
        "org_slug": "acme_corp",
        "run_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "step": "extract_transform",
    }
    assert first["query"]["useLegacySql"] is False
    assert {p["name"]: p["parameterType"]["type"] for p in first["query"]["queryParameters"]} == {
        "day": "DATE",
        "n": "INT64",
    }
    assert {p["name"]: p["parameterValue"]["value"] for p in first["query"]["queryParameters"]} == {
        "day": "2026-01-01",
        "n": "3",
    }
    assert "@day" in first["query"]["query"] and "2026-01-01" not in first["query"]["query"]
    ceilings = [int(job["query"]["maximumBytesBilled"]) for job in (first, second, third)]
    assert ceilings == [10**9, 5 * 1024**3, 5 * 1024**3]


def test_a_dry_run_is_a_dry_run_job_with_the_runs_labels_and_parameters(recorded: tuple[Any, RecordingSession]) -> None:
    warehouse, session = recorded
    warehouse.estimate_bytes("SELECT @day AS day", {"day": DAY_1}, labels=LABELS, max_bytes_billed=10**9)
    [job] = [job["configuration"] for job in session.jobs()]
    assert job["dryRun"] is True
    assert job["query"]["useQueryCache"] is False  # a cached answer would estimate 0 bytes
    assert job["labels"]["run_id"] == LABELS.run_id
    assert [p["name"] for p in job["query"]["queryParameters"]] == ["day"]


def test_the_day_load_is_a_truncating_load_job_into_the_partition_decorator(
    recorded: tuple[Any, RecordingSession],
) -> None:
    warehouse, session = recorded
    rows = [(DAY_1, "compute", 1.5, 3, EXPORTED), (DAY_1, "storage", 2.25, 1, None)]
    # bqemulator answers the upload of a decorated destination with an error (PARTITION_DECORATOR_GAP);
    # what matters here is the job the adapter asked for
    with pytest.raises(TerminalError, match=r"daily\$20260101"):
        warehouse.replace_partition(DAILY, DAY_1, COLUMNS, rows, labels=LABELS)
    [load] = [job["configuration"]["load"] for job in session.jobs() if "load" in job["configuration"]]
    assert load["destinationTable"] == {
        "projectId": warehouse.project,
        "datasetId": "acme_corp",
        "tableId": "daily$20260101",
    }
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["createDisposition"] == "CREATE_NEVER"
    assert load["sourceFormat"] == "NEWLINE_DELIMITED_JSON"
    assert [(f["name"], f["type"], f["mode"]) for f in load["schema"]["fields"]] == [
        (c.name, c.type, c.mode) for c in DAILY.columns
    ]
    [upload] = [body for method, url, body in session.sent if method == "PUT" and "upload" in url]
    assert [json.loads(line) for line in upload.splitlines()] == [
        {
            "usage_date": "2026-01-01",
            "service_id": "compute",
            "cost": 1.5,
            "source_rows": 3,
            "exported_at": EXPORTED.isoformat(),
        },
        {"usage_date": "2026-01-01", "service_id": "storage", "cost": 2.25, "source_rows": 1, "exported_at": None},
    ]
    # and the table it ensured first is day-partitioned on the field and clustered
    [table] = [
        json.loads(body)
        for method, url, body in session.sent
        if method == "POST" and url.split("?")[0].endswith("/tables")
    ]
    assert table["timePartitioning"] == {"type": "DAY", "field": "usage_date"}
    assert table["clustering"] == {"fields": ["service_id"]}


def test_the_load_payload_round_trips_through_a_real_load_job(recorded: tuple[Any, RecordingSession]) -> None:
    """The same load job, minus the decorator bqemulator refuses: every column type survives."""
    warehouse, _ = recorded
    warehouse.ensure_table(DAILY)
    rows = [(DAY_1, "compute", 1.5, 3, EXPORTED), (DAY_1, 'it\'s "quoted"', 1e-9, 0, None)]
    loaded = warehouse._load(DAILY, DAILY.name, COLUMNS, rows, labels=LABELS)
    assert loaded.rows == 2
    result = warehouse.query(
        f"SELECT * FROM `{warehouse.project}.acme_corp.daily` ORDER BY cost DESC", {}, labels=LABELS
    )
    assert result.columns == tuple(COLUMNS)
    assert result.rows == rows


def test_an_org_warehouse_reads_under_the_orgs_own_project(bigquery_emulator: Emulator) -> None:
    from shared.adapters.gcp.warehouse import BigQueryWarehouses
    from shared.local_stack.demo import fake_service_account

    warehouses = BigQueryWarehouses(unique_project(), max_bytes_billed=10**10, api_endpoint=bigquery_emulator.url)
    org_project = unique_project()
    key = fake_service_account(org_project)
    org = warehouses.for_credentials(key)
    assert org.project == org_project and org is warehouses.for_credentials(dict(key))
    assert warehouses.for_credentials(fake_service_account(org_project)) is not org  # another key, another client
    # the export lives in the org's project; the platform's warehouse reads it by its full id
    export = TableSpec(dataset="billing_export", name="gcp_billing_export_v1_X", columns=DAILY.columns)
    org.ensure_table(export)
    org._load(export, export.name, COLUMNS, [(DAY_1, "compute", 4.0, 1, EXPORTED)], labels=LABELS)
    sql = f"SELECT SUM(cost) AS cost FROM `{org_project}.billing_export.gcp_billing_export_v1_X` WHERE usage_date = @d"
    assert org.query(sql, {"d": DAY_1}, labels=LABELS).rows == [(4.0,)]
    warehouses.close()


def test_org_credentials_come_from_the_key_itself_and_a_broken_key_says_nothing_of_it() -> None:
    from shared.adapters.gcp.warehouse import BigQueryWarehouses
    from shared.local_stack.demo import fake_service_account

    warehouses = BigQueryWarehouses("cloudact-platform", max_bytes_billed=10**10)  # Google's endpoint: nothing sent
    key = fake_service_account("acme-billing-export")
    credentials = warehouses.for_credentials(key)._credentials
    assert credentials.service_account_email == key["client_email"]
    assert credentials.project_id == "acme-billing-export"
    broken = {**key, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}
    with pytest.raises(TerminalError) as raised:
        warehouses.for_credentials(broken)
    assert "not a key" not in raised.value.message and "PRIVATE" not in raised.value.message


def test_an_unreachable_bigquery_is_transient_within_the_retry_budget() -> None:
    from shared.adapters.gcp.errors import RetryPolicy
    from shared.adapters.gcp.warehouse import BigQueryWarehouse

    short = RetryPolicy(initial_s=0.05, maximum_s=0.2, multiplier=2, deadline_s=1.0)
    warehouse = BigQueryWarehouse(
        unique_project(),
        max_bytes_billed=10**9,
        api_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        api_retry=short,
    )
    started = time.monotonic()
    with pytest.raises(TransientError):
        warehouse.query("SELECT 1 AS one", {}, labels=LABELS)
    assert time.monotonic() - started < 10
    warehouse.close()


def test_a_non_finite_number_is_refused_before_anything_is_sent(recorded: tuple[Any, RecordingSession]) -> None:
    warehouse, session = recorded
    with pytest.raises(TerminalError, match="non-finite"):
        warehouse._load(DAILY, DAILY.name, COLUMNS, [(DAY_1, "compute", float("nan"), 1, None)], labels=LABELS)
    assert session.sent == []


def _focus_table(name: str, extra: Column) -> TableSpec:
    return TableSpec(
        dataset="acme_corp",
        name=name,
        columns=(Column("k", "STRING", "REQUIRED"), Column("BilledCost", "NUMERIC"), extra),
    )


def test_a_union_view_spans_the_prefixed_tables_on_their_shared_columns_with_exact_decimals(
    wh: WarehouseUnderTest,
) -> None:
    first, second = _focus_table("focus_a", Column("x_a", "STRING")), _focus_table("focus_b", Column("x_b", "INT64"))
    wh.warehouse.upsert_rows(first, "k", [{"k": "a1", "BilledCost": Decimal("0.000000001"), "x_a": "only a"}])
    wh.warehouse.upsert_rows(second, "k", [{"k": "b1", "BilledCost": Decimal("12345678901234567890.123456789")}])
    wh.warehouse.upsert_rows(
        TableSpec("acme_corp", "unrelated", (Column("k", "STRING", "REQUIRED"),)), "k", [{"k": "no"}]
    )
    wh.warehouse.ensure_union_view("acme_corp", "focus_costs", "focus_")
    view = f"`{wh.project}.acme_corp.focus_costs`"
    result = wh.warehouse.query(f"SELECT * FROM {view} ORDER BY k", {}, labels=LABELS)
    assert result.columns == ("k", "BilledCost")  # the extras of one provider stay in its table
    assert result.rows == [("a1", Decimal("0.000000001")), ("b1", Decimal("12345678901234567890.123456789"))]

    third = _focus_table("focus_c", Column("x_c", "STRING"))
    wh.warehouse.upsert_rows(third, "k", [{"k": "c1", "BilledCost": Decimal("-1.5")}])
    wh.warehouse.ensure_union_view("acme_corp", "focus_costs", "focus_")  # a new provider joins the view
    assert [row[0] for row in wh.rows(f"SELECT k FROM {view} ORDER BY k")] == ["a1", "b1", "c1"]


# -- a table an earlier version made -------------------------------------------------------------
SCHEMA_PATCH_GAP = (
    "bqemulator 1.4.0 keeps a tables.patch schema in its metadata but adds no column to the table it"
    " stores, and runs ALTER COLUMN SET DATA TYPE as a no-op. Covered up to the wire below."
)
EARLIER = TableSpec(
    dataset="evolving",
    name="daily",
    columns=(Column("day", "DATE", "REQUIRED"), Column("amount", "NUMERIC")),
    partition_field="day",
)


def test_a_table_an_earlier_version_made_gains_the_new_nullable_columns_keeping_its_rows(
    wh: WarehouseUnderTest, request: pytest.FixtureRequest
) -> None:
    expect_emulator_gap(request, wh, SCHEMA_PATCH_GAP)
    wh.warehouse.ensure_table(EARLIER)
    wh.warehouse.query(
        f"INSERT INTO {wh.table(EARLIER)} (day, amount) VALUES (DATE '2026-01-01', CAST('1.5' AS NUMERIC))",
        {},
        labels=LABELS,
    )
    later = replace(EARLIER, columns=(*EARLIER.columns, Column("note", "STRING"), Column("count", "INT64")))
    wh.warehouse.ensure_table(later)
    assert wh.rows(f"SELECT day, amount, note, count FROM {wh.table(later)}") == [
        (date(2026, 1, 1), Decimal("1.5"), None, None)
    ]


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ((Column("day", "DATE", "REQUIRED"), Column("amount", "STRING")), "amount is NUMERIC, declared STRING"),
        ((*EARLIER.columns, Column("id", "STRING", "REQUIRED")), "id (required) is missing"),
    ],
)
def test_a_table_that_cannot_take_the_declared_schema_is_refused_naming_the_difference(
    wh: WarehouseUnderTest, columns: tuple[Column, ...], named: str
) -> None:
    wh.warehouse.ensure_table(EARLIER)
    with pytest.raises(TerminalError, match="does not match its pipeline's schema") as refused:
        wh.warehouse.ensure_table(replace(EARLIER, columns=columns))
    assert named in refused.value.message and "Drop the table and re-run its days" in refused.value.message


def test_bringing_a_table_up_to_its_schema_patches_the_new_columns_and_widens_by_ddl(
    recorded: tuple[Any, RecordingSession],
) -> None:
    warehouse, session = recorded
    warehouse.ensure_table(EARLIER)
    later = replace(EARLIER, columns=(EARLIER.columns[0], Column("amount", "BIGNUMERIC"), Column("note", "STRING")))
    session.sent.clear()
    warehouse.ensure_table(later)
    [ddl] = [json.loads(body)["query"] for method, url, body in session.sent if method == "POST" and "/queries" in url]
    assert ddl == f"ALTER TABLE `{warehouse.project}.evolving.daily` ALTER COLUMN `amount` SET DATA TYPE BIGNUMERIC"
    [patch] = [json.loads(body) for method, url, body in session.sent if method in {"PATCH", "PUT"}]
    assert [(field["name"], field["type"]) for field in patch["schema"]["fields"]][-1] == ("note", "STRING")
    stored = warehouse._client().get_table(f"{warehouse.project}.evolving.daily")
    assert "note" in [field.name for field in stored.schema]
    # once per process: the next load into the same declaration asks nothing
    session.sent.clear()
    warehouse.ensure_table(later)
    assert session.sent == []
