"""The embedded warehouse's writes are all-or-nothing: a load that fails half-way leaves the table
as it was (shared/adapters/local/warehouse.py, one transaction helper for both writes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.errors import CloudActError
from shared.ports import Column, JobLabels, TableSpec

LABELS = JobLabels(org_slug="acme", run_id="run-1", step="load")
DAY = date(2026, 1, 1)
DAILY = TableSpec(
    "acme_prod",
    "daily",
    (Column("day", "DATE"), Column("service", "STRING"), Column("cost", "FLOAT64")),
    partition_field="day",
)
HISTORY = TableSpec("acme_prod", "history", (Column("run_id", "STRING"), Column("rows", "INT64")))


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    duck = DuckDBWarehouse(tmp_path / "warehouse", "cloudact-local")
    duck.ensure_dataset("acme_prod")
    yield duck
    duck.close()


def _rows(warehouse: DuckDBWarehouse, sql: str) -> list[tuple[object, ...]]:
    return warehouse.query(sql, {}, labels=LABELS).rows


def test_a_day_load_that_fails_after_its_delete_keeps_the_day(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace_partition(DAILY, DAY, ["day", "service", "cost"], [(DAY, "compute", 1.5)], labels=LABELS)
    # the delete runs, then the insert fails (a column the table does not have)
    with pytest.raises(CloudActError):
        warehouse.replace_partition(DAILY, DAY, ["day", "nope"], [(DAY, "x")], labels=LABELS)
    # and a value the column cannot hold fails inside the insert itself
    with pytest.raises(CloudActError):
        warehouse.replace_partition(DAILY, DAY, ["day", "cost"], [(DAY, "not a number")], labels=LABELS)
    assert _rows(warehouse, "SELECT service, cost FROM acme_prod.daily") == [("compute", 1.5)]
    # the connection is usable afterwards: no transaction left open
    warehouse.replace_partition(DAILY, DAY, ["day", "service", "cost"], [(DAY, "storage", 2.0)], labels=LABELS)
    assert _rows(warehouse, "SELECT service, cost FROM acme_prod.daily") == [("storage", 2.0)]


def test_an_upsert_that_fails_after_its_delete_keeps_the_rows(warehouse: DuckDBWarehouse) -> None:
    warehouse.upsert_rows(HISTORY, "run_id", [{"run_id": "a", "rows": 1}])
    with pytest.raises(CloudActError):
        warehouse.upsert_rows(HISTORY, "run_id", [{"run_id": "a", "rows": "many"}])
    assert _rows(warehouse, "SELECT run_id, rows FROM acme_prod.history") == [("a", 1)]
    warehouse.upsert_rows(HISTORY, "run_id", [{"run_id": "a", "rows": 2}])
    assert _rows(warehouse, "SELECT run_id, rows FROM acme_prod.history") == [("a", 2)]
