"""Loading a billing export file into the local warehouse: the declared schema, not a guessed one."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.errors import InvalidRequest
from shared.local_stack import export_import, folder_lock
from shared.settings import PROJECT_ROOT

TABLE = "my-billing-project.billing_export.gcp_billing_export_v1_TEST"
NAME = '"my-billing-project"."billing_export"."gcp_billing_export_v1_TEST"'
SAMPLE = PROJECT_ROOT / "docs" / "examples" / "gcp_billing_export_sample.json.gz"


@pytest.fixture
def warehouse(tmp_path: Path) -> Any:
    wh = DuckDBWarehouse(tmp_path / "warehouse", "cloudact-local")
    yield wh
    wh.close()


def rows(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def row(**overrides: Any) -> dict[str, Any]:
    base = {
        "billing_account_id": "AB12CD-34EF56-7890GH",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "usage_start_time": "2025-11-25 10:00:00 UTC",
        "usage_end_time": "2025-11-25T11:00:00Z",
        "export_time": "2025-11-26 02:00:00.123456 UTC",
        "cost": 1.25,
        "currency": "USD",
        "credits": [{"name": "SUD", "amount": -0.25, "type": "SUSTAINED_USAGE_DISCOUNT"}],
        "project": {"id": "acme-web-prod", "labels": [{"key": "team", "value": "web"}]},
        "resource": {"name": "vm-1"},  # a detailed export's field: ignored, and said so
    }
    return {**base, **overrides}


def test_bigquery_json_export_loads_with_typed_timestamps_and_nested_fields(warehouse: Any, tmp_path: Path) -> None:
    result = export_import.import_file(warehouse, rows(tmp_path / "e.json", [row(), row(cost="2.5")]), TABLE)
    assert (result.rows_loaded, result.rows_in_table, result.ignored_fields) == (2, 2, ("resource",))
    types = dict(warehouse.execute_native(f"SELECT column_name, column_type FROM (DESCRIBE {NAME})"))
    assert types["usage_start_time"] == "TIMESTAMP WITH TIME ZONE" and types["export_time"].startswith("TIMESTAMP")
    assert types["_PARTITIONTIME"].startswith("TIMESTAMP")
    (total, credits, hour, part) = warehouse.execute_native(
        f"SELECT SUM(cost), SUM(LIST_SUM(LIST_TRANSFORM(credits, LAMBDA c : c.amount))), MIN(hour(usage_start_time)), "
        f"MIN(CAST(_PARTITIONTIME AS DATE)) FROM {NAME}"
    )[0]
    assert (total, credits, hour, str(part)) == (3.75, -0.5, 10, "2025-11-26")


def test_replace_by_default_append_on_request(warehouse: Any, tmp_path: Path) -> None:
    file = rows(tmp_path / "e.ndjson", [row()])
    export_import.import_file(warehouse, file, TABLE)
    assert export_import.import_file(warehouse, file, TABLE).rows_in_table == 1
    late = export_import.import_file(warehouse, file, TABLE, append=True)
    assert (late.rows_loaded, late.rows_in_table) == (1, 2)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (row(cost="abc"), "line 3: field cost: expected a number"),
        (row(usage_start_time="yesterday"), "line 3: field usage_start_time: expected a timestamp"),
        ({k: v for k, v in row().items() if k != "export_time"}, "line 3: field export_time: missing"),
        (row(credits=[{"amount": "lots"}]), "line 3: field credits[0].amount: expected a number"),
        (row(project="acme"), "line 3: field project: expected an object"),
    ],
)
def test_a_bad_row_names_row_and_field_and_loads_nothing(
    warehouse: Any, tmp_path: Path, bad: dict[str, Any], expected: str
) -> None:
    export_import.import_file(warehouse, rows(tmp_path / "good.json", [row()]), TABLE)
    with pytest.raises(InvalidRequest) as refused:
        export_import.import_file(warehouse, rows(tmp_path / "bad.json", [row(), row(), bad]), TABLE, append=True)
    assert expected in refused.value.message and "nothing was loaded" in refused.value.message
    assert warehouse.execute_native(f"SELECT count(*) FROM {NAME}") == [(1,)]  # the earlier load is intact


def test_parquet_and_gzipped_json(warehouse: Any, tmp_path: Path) -> None:
    loaded = export_import.import_file(warehouse, SAMPLE, TABLE)
    assert (loaded.rows_loaded, loaded.format) == (280, "ndjson")
    parquet = tmp_path / "export.parquet"
    warehouse.execute_native(f"COPY (SELECT * EXCLUDE (_PARTITIONTIME) FROM {NAME}) TO '{parquet}' (FORMAT PARQUET)")
    again = export_import.import_file(warehouse, parquet, "other-project.billing.export_copy")
    assert (again.rows_loaded, again.format) == (280, "parquet")
    same = warehouse.execute_native(
        'SELECT (SELECT SUM(cost) FROM "other-project".billing.export_copy) = (SELECT SUM(cost) FROM ' + NAME + ")"
    )
    assert same == [(True,)]


def test_avro_as_bigquery_extracts_it(warehouse: Any, tmp_path: Path) -> None:
    import fastavro

    def record(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
        return {"type": "record", "name": name, "fields": list(fields)}

    def nullable(name: str, kind: Any) -> dict[str, Any]:
        return {"name": name, "type": ["null", kind], "default": None}

    timestamp = {"type": "long", "logicalType": "timestamp-micros"}
    credit = record("credit", nullable("name", "string"), nullable("amount", "double"))
    schema = fastavro.parse_schema(
        record(
            "export",
            nullable("billing_account_id", "string"),
            nullable("service", record("service", nullable("id", "string"), nullable("description", "string"))),
            {"name": "usage_start_time", "type": timestamp},
            {"name": "export_time", "type": timestamp},
            {"name": "cost", "type": "double"},
            {"name": "currency", "type": "string"},
            {"name": "credits", "type": {"type": "array", "items": credit}},
        )
    )
    from datetime import UTC, datetime

    start, exported = datetime(2025, 11, 25, 10, tzinfo=UTC), datetime(2025, 11, 26, 2, tzinfo=UTC)
    records = [
        {
            "billing_account_id": "A",
            "service": {"id": "s", "description": "Compute Engine"},
            "usage_start_time": start,
            "export_time": exported,
            "cost": 2.5,
            "currency": "USD",
            "credits": [{"name": "SUD", "amount": -0.5}],
        }
    ] * 3
    path = tmp_path / "export.avro"
    with path.open("wb") as handle:
        fastavro.writer(handle, schema, records)
    loaded = export_import.import_file(warehouse, path, TABLE)
    assert (loaded.rows_loaded, loaded.format) == (3, "avro")
    assert warehouse.execute_native(f"SELECT SUM(cost), MIN(usage_start_time) FROM {NAME}") == [(7.5, start)]


def test_formats_it_cannot_read_are_named(warehouse: Any, tmp_path: Path) -> None:
    for name, message in (("e.avro", "not a readable Avro file"), ("e.csv", "Cannot tell the format")):
        (tmp_path / name).write_text("x")
        with pytest.raises(InvalidRequest, match=message):
            export_import.import_file(warehouse, tmp_path / name, TABLE)
    with pytest.raises(InvalidRequest, match=r"expected project\.dataset\.table"):
        export_import.import_file(warehouse, SAMPLE, "not-a-table")


def test_gzip_sample_is_bigquery_json_form() -> None:
    with gzip.open(SAMPLE, "rt") as handle:
        first = json.loads(handle.readline())
    assert first["usage_start_time"].endswith(" UTC") and isinstance(first["credits"], list)


def test_a_tool_waits_for_the_folder_and_says_so(tmp_path: Path) -> None:
    held = folder_lock.FolderLock(tmp_path).acquire("cloudact export tool")
    said: list[str] = []
    threading.Timer(1.0, held.release).start()
    started = time.monotonic()
    with folder_lock.acquire_waiting(tmp_path, "cloudact export tool", said.append):
        waited = time.monotonic() - started
    assert waited >= 0.9
    assert said and said[0].startswith("waiting for cloudact export tool (PID ")


def test_a_running_serve_is_not_waited_for(tmp_path: Path) -> None:
    held = folder_lock.FolderLock(tmp_path).acquire("cloudact serve", "http://127.0.0.1:1")
    try:
        assert folder_lock.holder(tmp_path) == {
            "pid": folder_lock.os.getpid(),
            "command": "cloudact serve",
            "url": "http://127.0.0.1:1",
        }
        with pytest.raises(folder_lock.FolderBusy, match=r"in use by cloudact serve \(PID \d+\)"):
            folder_lock.acquire_waiting(tmp_path, "tool", lambda _: None, timeout_s=5)
    finally:
        held.release()
    assert folder_lock.holder(tmp_path) is None
