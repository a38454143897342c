"""Warehouse on DuckDB files: one file per project, attached under the project's name.

BigQuery's ``project.dataset.table`` maps onto DuckDB's ``catalog.schema.table``, so the same
fully qualified names work on both. Pipeline SQL arrives in BigQuery dialect and is transpiled
(``sql_dialect``); values are always bound as parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from shared.adapters import schema_evolution
from shared.adapters.views import union_select
from shared.errors import CloudActError, TerminalError, TransientError
from shared.ports import JobLabels, LoadResult, QueryResult, QueryValue, TableSpec

DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    # BigQuery's 38 decimals do not fit DuckDB's 38 digits: 18 places (SQL rounds to them)
    "BIGNUMERIC": "DECIMAL(38, 18)",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
}
BIGQUERY_TYPES = {
    "VARCHAR": "STRING",
    "BIGINT": "INT64",
    "DOUBLE": "FLOAT64",
    "DECIMAL(38,9)": "NUMERIC",
    "DECIMAL(38,18)": "BIGNUMERIC",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "JSON": "JSON",
}
"""The column types DuckDB's catalog reports, by the BigQuery name a pipeline declares them with."""


def _quote(identifier: str) -> str:
    # identifiers reaching here come from validated config and org records; quoting is for
    # hyphenated project ids, not a defence
    return '"' + identifier.replace('"', '""') + '"'


def translate_error(exc: Exception) -> CloudActError:
    """DuckDB's exception classes -> terminal or transient."""
    import duckdb

    if isinstance(exc, duckdb.TransactionException | duckdb.IOException | duckdb.InterruptException):
        return TransientError(f"Warehouse temporarily unavailable: {exc}")
    return TerminalError(f"Warehouse query failed: {exc}")


@contextmanager
def _transaction(cursor: Any) -> Iterator[Any]:
    """The block's statements on ``cursor`` take effect together or not at all."""
    cursor.execute("BEGIN TRANSACTION")
    try:
        yield cursor
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


class DuckDBWarehouse:
    def __init__(self, directory: Path, project: str) -> None:
        self.directory = directory
        self.project = project
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connection: Any = None
        self._attached: set[str] = set()
        self._evolved: set[TableSpec] = set()
        """Table schemas already checked against their tables by this process (see ``_evolve``)."""
        """Projects known to be attached: every query checks, and asking DuckDB cost ~1-2 ms each time."""

    # -- connection management ---------------------------------------------------------------
    def _root(self) -> Any:
        if self._connection is None:
            with self._lock:
                if self._connection is None:
                    import duckdb

                    self.directory.mkdir(parents=True, exist_ok=True)
                    conn = duckdb.connect(str(self.directory / f"{self.project}.duckdb"))
                    conn.execute("SET TimeZone = 'UTC'")
                    self._connection = conn
        return self._connection

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._root().cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cursor
        return cursor

    def attach_project(self, project: str, *, create: bool = False) -> None:
        """Makes ``project`` addressable as a catalog (another project's data, e.g. a billing export)."""
        if project == self.project or project in self._attached:
            return
        root = self._root()
        with self._lock:
            attached = {row[0] for row in root.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
            if project not in attached:
                path = self.directory / f"{project}.duckdb"
                if not path.exists() and not create:
                    raise TerminalError(
                        f"Not found: project {project} (nothing loaded for it in the local warehouse: "
                        "`cloudact import-export` or `cloudact generate-export` loads a billing export)"
                    )
                literal = "'" + str(path).replace("'", "''") + "'"
                root.execute(f"ATTACH {literal} AS {_quote(project)}")
            self._attached.add(project)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import duckdb

        try:
            yield
        except duckdb.Error as exc:
            raise translate_error(exc) from exc

    def execute_native(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """DuckDB SQL, for local tooling only (the synthetic export generator, tests)."""
        with self._translated():
            cursor = self._cursor()
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    # -- the Warehouse port ----------------------------------------------------------------
    def ensure_dataset(self, dataset: str) -> None:
        with self._translated():
            self._cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(self.project)}.{_quote(dataset)}")

    def _table_name(self, table: TableSpec) -> str:
        return f"{_quote(self.project)}.{_quote(table.dataset)}.{_quote(table.name)}"

    def ensure_table(self, table: TableSpec) -> None:
        # DuckDB has no partitions or clustering: a day partition is the rows with that day.
        columns = ", ".join(
            f"{_quote(column.name)} {DUCKDB_TYPES[column.type]}" + (" NOT NULL" if column.mode == "REQUIRED" else "")
            for column in table.columns
        )
        self.ensure_dataset(table.dataset)
        with self._translated():
            self._cursor().execute(f"CREATE TABLE IF NOT EXISTS {self._table_name(table)} ({columns})")
            if table not in self._evolved:
                self._evolve(table)
                self._evolved.add(table)

    def _evolve(self, table: TableSpec) -> None:
        """The table brought up to its declared schema where nothing is lost (schema_evolution)."""
        cursor = self._cursor()
        cursor.execute(
            "SELECT column_name, data_type FROM duckdb_columns()"
            " WHERE database_name = $1 AND schema_name = $2 AND table_name = $3",
            [self.project, table.dataset, table.name],
        )
        found = {column: BIGQUERY_TYPES.get(kind, kind) for column, kind in cursor.fetchall()}
        change = schema_evolution.plan(table, found)
        name = self._table_name(table)
        for column in change.added:
            # IF NOT EXISTS: another thread's load may have added it since the catalog was read
            cursor.execute(
                f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {_quote(column.name)} {DUCKDB_TYPES[column.type]}"
            )
        for column in change.widened:
            cursor.execute(f"ALTER TABLE {name} ALTER COLUMN {_quote(column.name)} TYPE {DUCKDB_TYPES[column.type]}")

    def query(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> QueryResult:
        # imported here, not at the top: sqlglot takes ~90 ms to import, which the functions that
        # build this adapter but never query (submit, status, admin) must not pay at cold start
        from . import sql_dialect

        duck_sql = sql_dialect.to_duckdb(sql)
        for project in sql_dialect.referenced_projects(sql):
            self.attach_project(project)
        with self._translated():
            cursor = self._cursor()
            cursor.execute(duck_sql, dict(params))
            columns = tuple(column[0] for column in cursor.description)
            rows = cursor.fetchall()
        return QueryResult(columns=columns, rows=rows)

    def estimate_bytes(
        self, sql: str, params: Mapping[str, QueryValue], *, labels: JobLabels, max_bytes_billed: int | None = None
    ) -> int:
        """0: the embedded warehouse bills nothing, so no local run is refused for its size. Nothing is
        planned either (an EXPLAIN would add milliseconds to every run only to find an error the query
        itself reports at once)."""
        return 0

    def _insert_columns(
        self, cursor: Any, table: TableSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # one statement of column arrays: DuckDB's executemany is ~30x slower for thousands of rows
        types = {column.name: DUCKDB_TYPES[column.type] for column in table.columns}
        unknown = [name for name in columns if name not in types]
        if unknown:
            raise TerminalError(f"Columns not in {table.dataset}.{table.name}: {', '.join(unknown)}")
        arrays = [list(values) for values in zip(*rows, strict=True)] if rows else [[] for _ in columns]
        # unnested as bound, then each value cast: about twice as fast as casting the whole lists
        # (`$1::DATE[]`) first, and as exact (a list of Decimals binds as a DECIMAL wide enough for all)
        unnested = ", ".join(f"UNNEST(${i + 1}) AS c{i}" for i in range(len(columns)))
        casts = ", ".join(f"CAST(c{i} AS {types[name]})" for i, name in enumerate(columns))
        names = ", ".join(_quote(name) for name in columns)
        cursor.execute(
            f"INSERT INTO {self._table_name(table)} ({names}) SELECT {casts} FROM (SELECT {unnested})", arrays
        )

    def replace_partition(
        self, table: TableSpec, day: date, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, labels: JobLabels
    ) -> LoadResult:
        if table.partition_field is None:
            raise TerminalError(f"{table.dataset}.{table.name} has no partition field")
        self.ensure_table(table)
        with self._translated(), _transaction(self._cursor()) as cursor:
            cursor.execute(f"DELETE FROM {self._table_name(table)} WHERE {_quote(table.partition_field)} = $1", [day])
            if rows:
                self._insert_columns(cursor, table, columns, rows)
        return LoadResult(rows=len(rows))

    def upsert_rows(self, table: TableSpec, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        self.ensure_table(table)
        columns = [column.name for column in table.columns]
        with self._translated(), _transaction(self._cursor()) as cursor:
            cursor.execute(
                f"DELETE FROM {self._table_name(table)} WHERE {_quote(key)} IN (SELECT UNNEST($1::VARCHAR[]))",
                [[str(row[key]) for row in rows]],
            )
            self._insert_columns(cursor, table, columns, [[row.get(name) for name in columns] for row in rows])

    def ensure_union_view(self, dataset: str, view: str, table_prefix: str) -> None:
        with self._translated():
            cursor = self._cursor()
            cursor.execute(
                "SELECT c.table_name, c.column_name FROM duckdb_columns() AS c JOIN duckdb_tables() AS t"
                " USING (database_name, schema_name, table_name)"
                " WHERE c.database_name = $1 AND c.schema_name = $2 AND starts_with(c.table_name, $3)"
                " ORDER BY c.table_name, c.column_index",
                [self.project, dataset, table_prefix],
            )
            columns_by_table: dict[str, list[str]] = {}
            for table_name, column_name in cursor.fetchall():
                columns_by_table.setdefault(table_name, []).append(column_name)
            if not columns_by_table:
                return
            select = union_select(
                columns_by_table, lambda name: f"{_quote(self.project)}.{_quote(dataset)}.{_quote(name)}", _quote
            )
            cursor.execute(
                f"CREATE OR REPLACE VIEW {_quote(self.project)}.{_quote(dataset)}.{_quote(view)} AS {select}"
            )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._attached = set()
        self._local = threading.local()


class LocalWarehouses:
    """The WarehouseFactory of the embedded stack: one engine, credentials not needed to read."""

    def __init__(self, warehouse: DuckDBWarehouse) -> None:
        self._warehouse = warehouse

    def platform(self) -> DuckDBWarehouse:
        return self._warehouse

    def for_credentials(self, credentials: Mapping[str, Any]) -> DuckDBWarehouse:
        return self._warehouse
