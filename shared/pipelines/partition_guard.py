"""Refuses pipeline SQL that would read a partitioned source's whole history on every run.

On BigQuery a query is billed for the bytes of every partition it cannot rule out, and it rules a
partition out only from a filter on the partitioning column that compares it with constant
expressions (literals, query parameters and functions of them). A query over the billing export
(partitioned by ``_PARTITIONTIME``) without such a filter scans the org's whole export history, so
its cost grows every day. The check reads the SQL's parsed form: the query that reads the source
must bound the partition column from below and from above in the top-level ``AND`` of its
``WHERE``. A step may opt out (``require_partition_filter: false``) when a full scan is meant.
"""

from __future__ import annotations

from typing import Any

PARTITION_COLUMNS = frozenset({"_PARTITIONTIME", "_PARTITIONDATE"})
_SENTINEL = "cloudact_partitioned_source"


def missing_partition_filter(sql: str, source_placeholder: str) -> str | None:
    """Why ``sql`` does not bound the partitions it reads of the source named by the placeholder,
    or None when every read of the source does."""
    # imported here: parsing is needed at pipeline load only, and sqlglot takes ~0.1 s to import
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql.replace(source_placeholder, _SENTINEL), read="bigquery")
    except sqlglot.errors.ParseError as exc:
        return f"does not parse as BigQuery SQL: {exc}"
    reads = [table for table in tree.find_all(exp.Table) if table.name == _SENTINEL]
    if not reads:
        return f"never reads FROM `{source_placeholder}`"
    for table in reads:
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select is not None else None
        lower = upper = False
        for conjunct in _conjuncts(where.this) if where is not None else []:
            low, high = _bounds(conjunct, exp)
            lower, upper = lower or low, upper or high
        if not (lower and upper):
            missing = " and ".join(side for side, found in (("below", lower), ("above", upper)) if not found)
            return (
                f"reads a source partitioned by _PARTITIONTIME without bounding it from {missing} in its WHERE "
                "clause (e.g. `_PARTITIONTIME BETWEEN TIMESTAMP(@start) AND TIMESTAMP(@end)`): BigQuery would "
                "scan, and bill, every partition of the source's history on every run. Bound it, or set "
                "`require_partition_filter: false` on the step to accept a full scan"
            )
    return None


def _conjuncts(node: Any) -> list[Any]:
    from sqlglot import exp

    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _is_partition_column(node: Any, exp: Any) -> bool:
    # DATE(_PARTITIONTIME), CAST(_PARTITIONTIME AS DATE), TIMESTAMP_TRUNC(...): one partition column inside
    while not isinstance(node, exp.Column) and isinstance(node, exp.Func | exp.Cast) and node.this is not None:
        node = node.this
    return isinstance(node, exp.Column) and node.name.upper() in PARTITION_COLUMNS


def _constant(node: Any, exp: Any) -> bool:
    """Pruning needs a bound BigQuery can evaluate before reading: no column, no subquery."""
    return node is not None and node.find(exp.Column, exp.Select) is None


def _bounds(conjunct: Any, exp: Any) -> tuple[bool, bool]:
    """(bounds the partition column from below, from above)."""
    if isinstance(conjunct, exp.Between) and _is_partition_column(conjunct.this, exp):
        return _constant(conjunct.args.get("low"), exp), _constant(conjunct.args.get("high"), exp)
    comparisons = {exp.GTE: "low", exp.GT: "low", exp.LTE: "high", exp.LT: "high", exp.EQ: "both"}
    kind = comparisons.get(type(conjunct))
    if kind is None:
        return False, False
    left, right = conjunct.this, conjunct.expression
    if _is_partition_column(right, exp) and not _is_partition_column(left, exp):
        left, right = right, left  # `@start <= _PARTITIONTIME` bounds it from below
        kind = {"low": "high", "high": "low", "both": "both"}[kind]
    if not (_is_partition_column(left, exp) and _constant(right, exp)):
        return False, False
    return kind in ("low", "both"), kind in ("high", "both")
