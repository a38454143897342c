"""Section 7: one day's run as the export's history grows (30, 365 and 1,095 days of history at a
fixed number of rows per day), on BigQuery's bill and on the embedded stack's clock.

BigQuery bytes. A query is billed for the logical bytes of the columns it references in every
partition it cannot rule out (at least 10 MB per query). bqemulator's dry run estimates 0 bytes, so
the figures come from that rule applied to the synthetic export itself: the leaf columns each of the
pipeline's queries references (read from its parsed SQL), sized as BigQuery sizes them (STRING:
2 bytes + its UTF-8 length; INT64, FLOAT64, TIMESTAMP: 8 bytes; NULL: 0; a repeated field: the sum
over its elements), summed over the rows of the partitions read: ``[day - 1, day + window]`` with
the partition filter, every partition without it (the SQL as it was, its ``_PARTITIONTIME``
predicate removed).

Embedded time. The same exports on the local stack: a LocalStack per history length, runs of the
same day (``force_refresh``) round-robin across them, and the pipeline's transpiled SQL timed on
DuckDB alone, with and without the partition predicate. Ratios are per round, as everywhere else.
"""

from __future__ import annotations

import random
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import median, paired_ratio
from bench.exports import CachedExport, ensure_export
from bench.pipeline import TRIGGER_PAUSE_MAX_S, StackSession
from shared.local_stack.billing_export import DEFAULT_TABLE

HISTORIES = (30, 365, 1_095)
ROWS_PER_DAY = 10_000
WINDOW_DAYS = 5
"""The billing pipeline's default ``source_window_days``."""
DAY_BEFORE_END = 7
"""The run's day: a week before the export's last day, so its whole window holds data."""
MIN_BILLED_BYTES = 10 * 1024**2
SQL_DIR = Path(__file__).resolve().parent.parent / "configs" / "gcp" / "cost" / "sql"
QUERIES = {"watermark": "billing_watermark.sql", "aggregate": "billing_daily.sql"}


def pipeline_sql(name: str) -> str:
    return (SQL_DIR / QUERIES[name]).read_text().replace("{source}", DEFAULT_TABLE)


def unpruned_sql(sql: str) -> str:
    """The query without its partition predicate: what the pipeline ran before it had one."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    for between in list(tree.find_all(exp.Between)):
        if between.this.name.upper() == "_PARTITIONTIME":
            between.replace(exp.true())
    return tree.sql(dialect="bigquery")


def referenced_leaves(sql: str) -> list[str]:
    """The export's leaf columns a query reads, as BigQuery counts them (``service.id``; an UNNEST
    alias's field as the repeated field's, ``credits.amount``); pseudo-columns are free."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    aliases = {select.alias for select in tree.find_all(exp.Alias)}
    unnested = {}
    for unnest in tree.find_all(exp.Unnest):
        alias = unnest.args.get("alias")
        if alias is not None and alias.columns:
            unnested[alias.columns[0].name] = unnest.expressions[0].sql("bigquery")
    leaves = set()
    for column in tree.find_all(exp.Column):
        parts = [part.name for part in column.parts]
        if parts[0] in unnested:
            parts = [unnested[parts[0]], *parts[1:]]
        name = ".".join(parts)
        grouped_alias = len(parts) == 1 and name in aliases and column.find_ancestor(exp.Group) is not None
        # UNNEST(credits) itself reads nothing: the fields its alias names are read
        if name.upper() in {"_PARTITIONTIME", "_PARTITIONDATE"} or grouped_alias or name in unnested.values():
            continue
        leaves.add(name)
    return sorted(leaves)


def _size_sql(connection: Any, table: str, leaf: str) -> str:
    """A DuckDB expression: the leaf's logical BigQuery size in one row."""
    head, _, rest = leaf.partition(".")
    (kind,) = connection.execute(f"SELECT typeof({head}) FROM {table} LIMIT 1").fetchone()
    if kind.endswith("[]"):  # a repeated record: the field over its elements
        element = f"x.{rest}"
        inner = connection.execute(f"SELECT typeof(UNNEST({head}).{rest}) FROM {table} LIMIT 1").fetchone()
        size = f"CASE WHEN {element} IS NULL THEN 0 ELSE {_scalar_size(inner[0] if inner else 'DOUBLE', element)} END"
        return f"COALESCE(list_sum(list_transform({head}, lambda x: {size})), 0)"
    (kind,) = connection.execute(f"SELECT typeof({leaf}) FROM {table} LIMIT 1").fetchone()
    return f"CASE WHEN {leaf} IS NULL THEN 0 ELSE {_scalar_size(kind, leaf)} END"


def _scalar_size(kind: str, expression: str) -> str:
    return f"2 + strlen({expression})" if kind == "VARCHAR" else "8"


def modelled_bytes(connection: Any, table: str, sql: str, day: date | None, window_days: int) -> int:
    """The bytes BigQuery bills ``sql`` for: its leaves over the partitions it reads (all when
    ``day`` is None), before the 10 MB minimum."""
    sizes = " + ".join(_size_sql(connection, table, leaf) for leaf in referenced_leaves(sql))
    where = ""
    if day is not None:
        low, high = day - timedelta(days=1), day + timedelta(days=window_days)
        where = f" WHERE partition_time BETWEEN TIMESTAMPTZ '{low} 00:00:00+00' AND TIMESTAMPTZ '{high} 00:00:00+00'"
    (total,) = connection.execute(f"SELECT SUM({sizes}) FROM {table}{where}").fetchone()
    return int(total or 0)


def billed(processed: int) -> int:
    return max(processed, MIN_BILLED_BYTES)


def _open(export: CachedExport) -> Any:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"ATTACH '{export.path}' AS \"{DEFAULT_TABLE.split('.')[0]}\" (READ_ONLY)")
    return connection


def run(
    rounds: int,
    poll_interval_s: float,
    cache_dir: Path,
    say: Any,
    histories: tuple[int, ...] = HISTORIES,
    rows_per_day: int = ROWS_PER_DAY,
) -> dict[str, Any]:
    from shared.adapters.local import sql_dialect

    exports = {days: ensure_export(days * rows_per_day, cache_dir, days=days) for days in histories}
    day = exports[histories[0]].spec.end_date - timedelta(days=DAY_BEFORE_END)
    results: dict[int, dict[str, Any]] = {days: {"days": days, "rows": days * rows_per_day} for days in histories}

    # 1. BigQuery bytes (modelled) and DuckDB alone, read-only on the cached files
    connections = {days: _open(export) for days, export in exports.items()}
    table = exports[histories[0]].qualified_table
    pruned = {name: sql_dialect.to_duckdb(pipeline_sql(name)) for name in QUERIES}
    unpruned = {name: sql_dialect.to_duckdb(unpruned_sql(pipeline_sql(name))) for name in QUERIES}
    params = {"date": day, "source_window_days": WINDOW_DAYS}
    try:
        for days, connection in connections.items():
            entry = results[days]
            for name in QUERIES:
                sql = pipeline_sql(name)
                entry[f"{name}_bytes"] = modelled_bytes(connection, table, sql, day, WINDOW_DAYS)
                entry[f"{name}_bytes_unpruned"] = modelled_bytes(connection, table, sql, None, WINDOW_DAYS)
            entry["run_bytes"] = entry["watermark_bytes"] + entry["aggregate_bytes"]
            entry["run_bytes_unpruned"] = entry["watermark_bytes_unpruned"] + entry["aggregate_bytes_unpruned"]
            entry["run_billed"] = billed(entry["watermark_bytes"]) + billed(entry["aggregate_bytes"])
            entry["run_billed_unpruned"] = billed(entry["watermark_bytes_unpruned"]) + billed(
                entry["aggregate_bytes_unpruned"]
            )
            entry["duckdb_pruned_s"], entry["duckdb_unpruned_s"] = [], []
            connection.execute(pruned["aggregate"], params).fetchall()  # warm
        for _ in range(rounds):
            for days, connection in connections.items():
                for key, sql, bound in (
                    ("duckdb_pruned_s", pruned["aggregate"], params),
                    ("duckdb_unpruned_s", unpruned["aggregate"], {"date": day}),
                ):
                    started = time.perf_counter()
                    connection.execute(sql, bound).fetchall()
                    results[days][key].append(time.perf_counter() - started)
    finally:
        for connection in connections.values():
            connection.close()

    # 2. the embedded stack, one server per history length, runs round-robin
    sessions: dict[int, StackSession] = {}
    workdirs = []
    try:
        for days, export in exports.items():
            workdir = cache_dir / "work" / f"history-{days}"
            shutil.rmtree(workdir, ignore_errors=True)
            workdirs.append(workdir)
            sessions[days] = StackSession.start(export, workdir / "stack")
            sessions[days].run_once(day, poll_interval_s)  # warm-up, untimed
            results[days]["runs"] = []
        pauses = random.Random(len(histories))  # noqa: S311 - seeded pauses, not secrets
        for round_number in range(rounds):
            order = list(histories) if round_number % 2 == 0 else list(reversed(histories))
            for days in order:
                pause = pauses.uniform(0, TRIGGER_PAUSE_MAX_S)
                results[days]["runs"].append(sessions[days].run_once(day, poll_interval_s, pause))
    finally:
        for session in sessions.values():
            session.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)

    base = results[histories[0]]
    summary = []
    for days in histories:
        entry = results[days]
        runs = entry.pop("runs")
        entry["pipeline_s"] = median([run["end_to_end_s"] for run in runs])
        entry["query_step_s"] = median([run["query_step_s"] for run in runs])
        entry["rows_loaded"] = runs[0]["rows_loaded"]
        entry["samples"] = {
            "pipeline_s": [run["end_to_end_s"] for run in runs],
            "query_step_s": [run["query_step_s"] for run in runs],
        }
        base_runs = base["samples"]["pipeline_s"] if days != histories[0] else entry["samples"]["pipeline_s"]
        entry["pipeline_vs_shortest"] = paired_ratio(entry["samples"]["pipeline_s"], base_runs)
        base_steps = base["samples"]["query_step_s"] if days != histories[0] else entry["samples"]["query_step_s"]
        entry["query_step_vs_shortest"] = paired_ratio(entry["samples"]["query_step_s"], base_steps)
        entry["duckdb_pruned_median_s"] = median(entry["duckdb_pruned_s"])
        entry["duckdb_unpruned_median_s"] = median(entry["duckdb_unpruned_s"])
        entry["duckdb_pruned_vs_shortest"] = paired_ratio(entry["duckdb_pruned_s"], base["duckdb_pruned_s"])
        entry["duckdb_unpruned_vs_shortest"] = paired_ratio(entry["duckdb_unpruned_s"], base["duckdb_unpruned_s"])
        entry["bytes_vs_shortest"] = entry["run_bytes"] / base["run_bytes"]
        entry["unpruned_vs_pruned_bytes"] = entry["run_bytes_unpruned"] / entry["run_bytes"]
        summary.append(entry)
        say(
            f"  {days:>5,} days: {entry['run_bytes'] / 1e6:8.1f} MB read"
            f" (unpruned {entry['run_bytes_unpruned'] / 1e6:9.1f} MB),"
            f" run {entry['pipeline_s'] * 1000:6.1f} ms ({entry['pipeline_vs_shortest']:.2f}x),"
            f" query step {entry['query_step_s'] * 1000:5.1f} ms ({entry['query_step_vs_shortest']:.2f}x)"
        )
    return {
        "day": day.isoformat(),
        "rows_per_day": rows_per_day,
        "window_days": WINDOW_DAYS,
        "leaves": {name: referenced_leaves(pipeline_sql(name)) for name in QUERIES},
        "histories": summary,
    }
