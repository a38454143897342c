"""BigQuery SQL -> DuckDB SQL, so one pipeline file serves both warehouses.

sqlglot does the dialect work. On top of it one rewrite for speed: BigQuery's idiom for summing a
repeated field, ``(SELECT SUM(c.x) FROM UNNEST(arr) AS c)``, becomes DuckDB's list functions,
``LIST_SUM(LIST_TRANSFORM(arr, LAMBDA c : c.x))``. Both give the same value (NULL for an empty
array); measured on a 10M-row export the correlated subquery is about 6x slower in DuckDB.

And one mapping: BigQuery's partition pseudo-columns of an ingestion-time partitioned table
(``_PARTITIONTIME``, ``_PARTITIONDATE``) have no DuckDB counterpart, so a local table partitioned
that way (the billing export) carries the partition time as the column ``partition_time`` and the
pseudo-columns are read from it. The same partition filter then selects the same rows on both.

And one for exactness: BigQuery's NUMERIC is a fixed DECIMAL(38, 9), but sqlglot writes it as a bare
``DECIMAL``, which DuckDB reads as DECIMAL(18, 3): money would lose its last six decimal places.
BIGNUMERIC (a unit price's precision) becomes DECIMAL(38, 18) rather than sqlglot's DECIMAL(38, 5).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

from shared.errors import ConfigError

PARTITION_TIME_COLUMN = "partition_time"
"""The column a local ingestion-time partitioned table keeps ``_PARTITIONTIME`` in."""


def _partition_pseudo_column(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.Column):
        return node
    name = node.name.upper()
    column = exp.column(PARTITION_TIME_COLUMN, table=node.table or None)
    if name == "_PARTITIONTIME":
        return column
    if name == "_PARTITIONDATE":
        # the UTC day of the partition, whatever the session's time zone
        utc = exp.Anonymous(this="timezone", expressions=[exp.Literal.string("UTC"), column])
        return exp.cast(utc, "DATE")
    return node


def _sum_over_unnest(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.Subquery) or not isinstance(node.this, exp.Select):
        return node
    select = node.this
    source = select.args.get("from_") or select.args.get("from")
    if (
        len(select.expressions) != 1
        or not isinstance(select.expressions[0], exp.Sum)
        or source is None
        or not isinstance(source.this, exp.Unnest)
        or any(select.args.get(part) for part in ("where", "group", "joins", "having", "limit"))
    ):
        return node
    unnest = source.this
    alias = unnest.args.get("alias")
    if len(unnest.expressions) != 1 or alias is None or len(alias.columns) != 1:
        return node
    element = alias.columns[0].name
    summed = select.expressions[0].this
    # inside the lambda the element is a bare identifier, so `c.amount` becomes a struct access
    body = summed.transform(
        lambda n: (
            exp.Dot(this=exp.to_identifier(element), expression=n.this)
            if isinstance(n, exp.Column) and n.table == element
            else n
        )
    )
    # Written out rather than as exp.Lambda: sqlglot releases render DuckDB lambdas as `x -> ...`,
    # which DuckDB 2 rejects, or as `LAMBDA x : ...`, depending on the version installed.
    lam = exp.Var(this=f"LAMBDA {exp.to_identifier(element).sql('duckdb')} : {body.sql('duckdb')}")
    transform = exp.Anonymous(this="LIST_TRANSFORM", expressions=[unnest.expressions[0], lam])
    return exp.Anonymous(this="LIST_SUM", expressions=[transform])


NUMERIC = exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")
BIGNUMERIC = exp.DataType.build("DECIMAL(38, 18)", dialect="duckdb")
"""BigQuery's BIGNUMERIC holds 38 decimals; DuckDB's widest decimal holds 38 digits in all, so it
keeps 18 (20 integer digits): SQL rounds its BIGNUMERIC values to 18 places, and both engines hold
the same values."""


def _numeric_precision(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and not node.expressions:
        if node.this == exp.DataType.Type.DECIMAL:
            return NUMERIC.copy()
        if node.this == exp.DataType.Type.BIGDECIMAL:
            return BIGNUMERIC.copy()
    return node


@lru_cache(maxsize=256)
def to_duckdb(bigquery_sql: str) -> str:
    try:
        statements = sqlglot.parse(bigquery_sql, read="bigquery")
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"SQL does not parse as BigQuery SQL: {exc}") from None
    if len(statements) != 1 or statements[0] is None:
        raise ConfigError("Expected exactly one SQL statement")
    # precision first: the rewrite renders the lambda body as text
    tree = statements[0].transform(_numeric_precision).transform(_sum_over_unnest).transform(_partition_pseudo_column)
    return tree.sql(dialect="duckdb")


@lru_cache(maxsize=256)
def referenced_projects(bigquery_sql: str) -> frozenset[str]:
    # cached like to_duckdb: parsing the pipeline's SQL again cost ~8 ms on every run
    tree = sqlglot.parse_one(bigquery_sql, read="bigquery")
    return frozenset(table.catalog for table in tree.find_all(exp.Table) if table.catalog)
