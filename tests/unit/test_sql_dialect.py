"""The BigQuery -> DuckDB translation, checked by running both forms on the same data."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
import sqlglot

from shared.adapters.local.sql_dialect import referenced_projects, to_duckdb
from shared.errors import ConfigError
from shared.settings import PROJECT_ROOT

CREDIT_SUM = "SELECT id, IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0) AS credits FROM t ORDER BY id"


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (id INT, credits STRUCT(name VARCHAR, amount DOUBLE)[])")
    conn.execute(
        "INSERT INTO t VALUES (1, []), (2, NULL), (3, [{'name': 'a', 'amount': -1.5}]),"
        " (4, [{'name': 'a', 'amount': -1.0}, {'name': 'b', 'amount': -2.25}]), (5, [{'name': 'a', 'amount': NULL}])"
    )
    return conn


def test_credit_subquery_becomes_list_functions() -> None:
    translated = to_duckdb(CREDIT_SUM)
    assert "LIST_SUM(LIST_TRANSFORM(credits, LAMBDA c : c.amount))" in translated
    assert "UNNEST" not in translated


def test_rewrite_gives_the_same_values_as_the_plain_translation(conn: duckdb.DuckDBPyConnection) -> None:
    plain = sqlglot.transpile(CREDIT_SUM, read="bigquery", write="duckdb")[0]
    expected = conn.execute(plain).fetchall()
    assert conn.execute(to_duckdb(CREDIT_SUM)).fetchall() == expected
    assert expected == [(1, 0), (2, 0), (3, -1.5), (4, -3.25), (5, 0)]


def test_subqueries_it_does_not_understand_are_left_alone() -> None:
    filtered = "SELECT (SELECT SUM(c.amount) FROM UNNEST(credits) AS c WHERE c.amount < 0) FROM t"
    assert "UNNEST" in to_duckdb(filtered)


def test_billing_sql_translates_and_names_its_source_project() -> None:
    sql = (PROJECT_ROOT / "configs/gcp/cost/sql/billing_daily.sql").read_text().replace("{source}", "my-proj.ds.tbl")
    translated = to_duckdb(sql)
    assert '"my-proj"."ds"."tbl"' in translated and "$date" in translated
    assert referenced_projects(sql) == {"my-proj"}


def test_more_than_one_statement_is_refused() -> None:
    with pytest.raises(ConfigError):
        to_duckdb("SELECT 1; DROP TABLE t")


def test_partition_pseudo_columns_read_the_local_partition_time_column() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from shared.local_stack.billing_export import partition_time_from_export_time, partition_time_sql

    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'America/Los_Angeles'")  # the mapping must not depend on the session's zone
    exported = [
        datetime(2025, 3, 1, 0, 30, tzinfo=UTC),
        datetime(2025, 3, 1, 23, 30, tzinfo=UTC),
        datetime(2025, 3, 2, 7, 0, tzinfo=timezone(timedelta(hours=9))),  # 2025-03-01 22:00 UTC
        datetime(2025, 3, 3, 1, 0, tzinfo=UTC),
    ]
    conn.execute("CREATE TABLE t (id INT, export_time TIMESTAMPTZ)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(exported)))
    conn.execute(f"CREATE TABLE e AS SELECT id, {partition_time_sql()} AS partition_time FROM t")
    stored = dict(conn.execute("SELECT id, partition_time FROM e").fetchall())
    for index, moment in enumerate(exported):
        assert stored[index] == partition_time_from_export_time(moment)
        assert stored[index].astimezone(UTC) == datetime(*moment.astimezone(UTC).timetuple()[:3], tzinfo=UTC)
    sql = (
        "SELECT id FROM e WHERE _PARTITIONTIME BETWEEN TIMESTAMP('2025-03-01') AND TIMESTAMP('2025-03-01') "
        "AND _PARTITIONDATE = DATE '2025-03-01' ORDER BY id"
    )
    conn.execute("SET TimeZone = 'UTC'")  # as the warehouse sets it: BigQuery's TIMESTAMP('…') is UTC
    assert conn.execute(to_duckdb(sql)).fetchall() == [(0,), (1,), (2,)]
    # a naive export time is UTC, as BigQuery's TIMESTAMP has no zone
    assert partition_time_from_export_time(datetime(2025, 3, 1, 23, 59)) == datetime(2025, 3, 1, tzinfo=UTC)


def test_numeric_keeps_bigquerys_precision_and_sums_exactly() -> None:
    # NUMERIC is DECIMAL(38, 9) in BigQuery; DuckDB's bare DECIMAL would be (18, 3) and round money
    sql = (
        "SELECT SUM(CAST(x AS NUMERIC)) AS total, CAST(x AS NUMERIC(20, 2)) AS narrow,"
        " IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0) AS credits"
        " FROM t GROUP BY x, credits"
    )
    translated = to_duckdb(sql)
    assert translated.count("DECIMAL(38, 9)") == 2 and "DECIMAL(20, 2)" in translated
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t AS SELECT 0.000001234::DOUBLE AS x, [{'amount': -0.1::DOUBLE}] AS credits")
    result = conn.execute(translated)
    assert result.description[0][1] == "DECIMAL(38,9)"
    assert result.fetchall() == [(Decimal("0.000001234"), Decimal("0.00"), Decimal("-0.100000000"))]
