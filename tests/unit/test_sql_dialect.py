"""The BigQuery -> DuckDB translation, checked by running both forms on the same data."""

from __future__ import annotations

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
