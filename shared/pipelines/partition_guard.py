"""Refuses pipeline SQL that would read a partitioned source's whole history on every run.

On BigQuery a query is billed for the bytes of every partition it cannot rule out, and it rules a
partition out only from a filter on the partitioning column that compares it with constant
expressions (literals, query parameters and functions of them). A query over the billing export
(partitioned by ``_PARTITIONTIME``) without such a filter scans the org's whole export history, so
its cost grows every day. The check reads the SQL's parsed form: the query that reads the source
must bound the partition column from below and from above in the top-level ``AND`` of its
``WHERE``. A step may opt out (``require_partition_filter: false``) when a full scan is meant.

Parsing needs sqlglot, whose import alone costs about 0.1 s: on a function's first request (every
function loads the pipeline file) that doubled the submit function's time to a first answer. So the
SQL files that passed are recorded by their digest in ``partition_filters.json`` beside the pipeline
files (``python -m shared.pipelines.partition_guard configs`` writes it; a test keeps it current),
and a file whose exact text is recorded there is not parsed again. Any other text is parsed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

PARTITION_COLUMNS = frozenset({"_PARTITIONTIME", "_PARTITIONDATE"})
VERIFIED_FILE = "partition_filters.json"
"""Beside the pipeline files of a folder: the digests of its SQL files that passed the check."""
_SENTINEL = "cloudact_partitioned_source"


def digest(sql: str, source_placeholder: str) -> str:
    return hashlib.sha256(f"{source_placeholder}\0{sql}".encode()).hexdigest()


def verified_digests(directory: Path) -> frozenset[str]:
    """The digests recorded in ``directory``'s ``partition_filters.json`` (none if it has none)."""
    path = directory / VERIFIED_FILE
    try:
        return _read_verified(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        return frozenset()


@lru_cache(maxsize=32)
def _read_verified(path: Path, mtime_ns: int) -> frozenset[str]:
    document = json.loads(path.read_text())
    return frozenset(document.get("verified", {}).values())


def check(sql: str, source_placeholder: str, directory: Path) -> str | None:
    """``missing_partition_filter``, skipped for a text recorded as passing in ``directory``."""
    if digest(sql, source_placeholder) in verified_digests(directory):
        return None
    return missing_partition_filter(sql, source_placeholder)


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


def record(configs_dir: Path, source_placeholder: str = "{source}") -> list[Path]:
    """Writes ``partition_filters.json`` in every pipeline folder under ``configs_dir`` whose SQL
    files read the source: the digests of those that pass. Returns the files written."""
    written = []
    for folder in sorted({path.parent for path in configs_dir.glob("*/*/*.yml")}):
        verified = {}
        for sql_path in sorted(folder.glob("sql/*.sql")):
            sql = sql_path.read_text()
            if source_placeholder in sql and missing_partition_filter(sql, source_placeholder) is None:
                verified[sql_path.relative_to(folder).as_posix()] = digest(sql, source_placeholder)
        target = folder / VERIFIED_FILE
        if verified:
            document = {
                "about": "SQL files whose partition filter was checked (shared/pipelines/partition_guard.py); "
                "regenerate with: python -m shared.pipelines.partition_guard configs",
                "verified": verified,
            }
            target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            written.append(target)
        else:
            target.unlink(missing_ok=True)
    return written


if __name__ == "__main__":
    for path in record(Path(sys.argv[1] if len(sys.argv) > 1 else "configs")):
        print(path)
