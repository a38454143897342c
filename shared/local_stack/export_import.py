"""Loading a real GCP Cloud Billing export file into the local warehouse (``cloudact import-export``).

The table's schema is declared here, the standard usage cost export's as Google documents it, and is
never guessed from the file: auto-detection would leave timestamps as text, and the pipeline's SQL
would then fail to bind. Accepted files are the ones Google produces or a user can extract:
newline-delimited JSON in BigQuery's JSON export form (``.json``, ``.ndjson``, ``.jsonl``, optionally
``.gz``), Parquet, and Avro (with the ``avro`` extra: fastavro reads it into the JSON form first).
Fields a file has beyond the standard schema (a detailed export's ``resource`` or ``price``) are
ignored and named in the result.

A file with a bad value loads nothing: the load runs in one transaction, and the error names the
first bad row and field.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.domain import identifiers
from shared.errors import InvalidRequest


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    """BigQuery's type name: STRING, FLOAT, INTEGER, BOOLEAN, TIMESTAMP or RECORD."""
    mode: str = "NULLABLE"
    fields: tuple[Field, ...] = ()


def _kv(name: str) -> Field:
    return Field(name, "RECORD", "REPEATED", (Field("key", "STRING"), Field("value", "STRING")))


def _rec(name: str, *fields: Field) -> Field:
    return Field(name, "RECORD", fields=fields)


def _s(name: str) -> Field:
    return Field(name, "STRING")


STANDARD_EXPORT_SCHEMA: tuple[Field, ...] = (
    _s("billing_account_id"),
    _rec("service", _s("id"), _s("description")),
    _rec("sku", _s("id"), _s("description")),
    Field("usage_start_time", "TIMESTAMP", "REQUIRED"),
    Field("usage_end_time", "TIMESTAMP"),
    _rec(
        "project",
        _s("id"),
        _s("number"),
        _s("name"),
        _kv("labels"),
        _s("ancestry_numbers"),
        Field("ancestors", "RECORD", "REPEATED", (_s("resource_name"), _s("display_name"))),
    ),
    _kv("labels"),
    _kv("system_labels"),
    _rec("location", _s("location"), _s("country"), _s("region"), _s("zone")),
    Field("tags", "RECORD", "REPEATED", (_s("key"), _s("value"), Field("inherited", "BOOLEAN"), _s("namespace"))),
    _s("transaction_type"),
    _s("seller_name"),
    Field("export_time", "TIMESTAMP", "REQUIRED"),
    Field("cost", "FLOAT", "REQUIRED"),
    Field("currency", "STRING", "REQUIRED"),
    Field("currency_conversion_rate", "FLOAT"),
    _rec("usage", Field("amount", "FLOAT"), _s("unit"), Field("amount_in_pricing_units", "FLOAT"), _s("pricing_unit")),
    Field(
        "credits",
        "RECORD",
        "REPEATED",
        (_s("name"), Field("amount", "FLOAT"), _s("full_name"), _s("id"), _s("type")),
    ),
    _rec("invoice", _s("month"), _s("publisher_type")),
    _s("cost_type"),
    _rec("adjustment_info", _s("id"), _s("description"), _s("mode"), _s("type")),
    Field("cost_at_list", "FLOAT"),
    _rec("consumption_model", _s("id"), _s("description")),
)
"""Google's standard usage cost export (docs: Cloud Billing, "Structure of Standard data export")."""

PARTITION_COLUMN = "_PARTITIONTIME"
"""BigQuery's ingestion-time partition of the export: the export time's day."""

_SCALARS = {
    "STRING": "VARCHAR",
    "FLOAT": "DOUBLE",
    "INTEGER": "BIGINT",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
}
FORMATS = {".json": "ndjson", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".avro": "avro"}


def duckdb_type(field: Field) -> str:
    if field.type == "RECORD":
        inner = ", ".join(f'"{sub.name}" {duckdb_type(sub)}' for sub in field.fields)
        base = f"STRUCT({inner})"
    else:
        base = _SCALARS[field.type]
    return base + "[]" if field.mode == "REPEATED" else base


def table_ddl() -> str:
    columns = [f'"{field.name}" {duckdb_type(field)}' for field in STANDARD_EXPORT_SCHEMA]
    return ", ".join([*columns, f'"{PARTITION_COLUMN}" TIMESTAMPTZ'])


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in FORMATS:
        raise InvalidRequest(
            f"Cannot tell the format of {path.name}: name it .json/.ndjson/.jsonl (newline-delimited JSON, "
            "optionally .gz), .parquet or .avro, or pass --format",
            field="file",
        )
    return FORMATS[suffixes[-1]]


@dataclass(frozen=True)
class ImportResult:
    table: str
    rows_loaded: int
    rows_in_table: int
    format: str
    ignored_fields: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows_loaded": self.rows_loaded,
            "rows_in_table": self.rows_in_table,
            "format": self.format,
            "ignored_fields": list(self.ignored_fields),
        }


def import_file(
    warehouse: DuckDBWarehouse, path: Path, table_id: str, *, append: bool = False, file_format: str | None = None
) -> ImportResult:
    """Loads ``path`` into ``table_id`` (replacing the table, or adding to it with ``append``)."""
    import duckdb

    table_id = identifiers.table_id(table_id, "table")
    if not path.is_file():
        raise InvalidRequest(f"No such file: {path}", field="file")
    kind = detect_format(path, file_format)
    if kind == "avro":
        return _import_avro(warehouse, path, table_id, append=append)
    project, dataset, table = table_id.split(".")
    warehouse.attach_project(project, create=True)
    name = f'"{project}"."{dataset}"."{table}"'
    literal = "'" + str(path.resolve()).replace("'", "''") + "'"
    if kind == "ndjson":
        columns = "{" + ", ".join(f"'{f.name}': '{duckdb_type(f)}'" for f in STANDARD_EXPORT_SCHEMA) + "}"
        source = f"read_json({literal}, format='newline_delimited', columns={columns})"
        ignored = _ndjson_extra_fields(path)
    else:
        source = f"read_parquet({literal})"
        try:
            present = [row[0] for row in warehouse.execute_native(f"DESCRIBE SELECT * FROM {source}")]
        except Exception as exc:
            raise InvalidRequest(
                f"{path.name}: not a readable Parquet file ({_first_line(exc)})", field="file"
            ) from None
        known = {f.name for f in STANDARD_EXPORT_SCHEMA}
        ignored = tuple(sorted(set(present) - known - {PARTITION_COLUMN}))
        missing = [f.name for f in STANDARD_EXPORT_SCHEMA if f.mode == "REQUIRED" and f.name not in present]
        if missing:
            raise InvalidRequest(f"{path.name}: required column {missing[0]} is missing", field=missing[0])
        selected = ", ".join(f'"{c}"' for c in present if c in known)
        source = f"(SELECT {selected} FROM {source})"
    required = [f.name for f in STANDARD_EXPORT_SCHEMA if f.mode == "REQUIRED"]
    cursor = warehouse._cursor()
    cursor.execute("BEGIN TRANSACTION")
    try:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{project}"."{dataset}"')
        if append:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} ({table_ddl()})")
        else:
            cursor.execute(f"CREATE OR REPLACE TABLE {name} ({table_ddl()})")
        before = cursor.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        cursor.execute(
            f"INSERT INTO {name} BY NAME SELECT *, date_trunc('day', export_time) AS \"{PARTITION_COLUMN}\" "
            f"FROM {source}"
        )
        counts = ", ".join(f"count(*) FILTER (WHERE {_quote(c)} IS NULL)" for c in required)
        nulls = cursor.execute(f"SELECT {counts} FROM {name}").fetchone()
        if any(nulls):
            column = required[next(i for i, n in enumerate(nulls) if n)]
            raise _BadFile(f"field {column}: missing (the standard export always has it)", column)
        after = cursor.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        cursor.execute("COMMIT")
    except (duckdb.Error, _BadFile) as exc:
        cursor.execute("ROLLBACK")
        raise _explain(path, kind, exc) from None
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return ImportResult(table_id, after - before, after, kind, ignored)


def _import_avro(warehouse: DuckDBWarehouse, path: Path, table_id: str, *, append: bool) -> ImportResult:
    """Avro records -> the JSON export form (timestamps as text) in a temporary file, then loaded as one."""
    import tempfile

    try:
        import fastavro
    except ImportError:
        raise InvalidRequest(
            "Reading Avro needs fastavro: pip install 'cloudact-pipelines[avro]' (or export JSON or Parquet)",
            field="file",
        ) from None

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    with tempfile.TemporaryDirectory(prefix="cloudact-avro-") as scratch:
        converted = Path(scratch) / f"{path.stem}.ndjson"
        try:
            with path.open("rb") as source, converted.open("w") as target:
                for record in fastavro.reader(source):
                    target.write(json.dumps(plain(record), default=str) + "\n")
        except (ValueError, EOFError, OSError) as exc:
            raise InvalidRequest(f"{path.name}: not a readable Avro file ({_first_line(exc)})", field="file") from None
        try:
            result = import_file(warehouse, converted, table_id, append=append, file_format="ndjson")
        except InvalidRequest as exc:
            message = exc.message.replace(converted.name, path.name).replace(": line ", ": record ")
            raise InvalidRequest(message, **exc.details) from None
    return ImportResult(result.table, result.rows_loaded, result.rows_in_table, "avro", result.ignored_fields)


class _BadFile(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt") if path.suffix.lower() == ".gz" else path.open()


def _ndjson_extra_fields(path: Path, sample_rows: int = 1000) -> tuple[str, ...]:
    known = {f.name for f in STANDARD_EXPORT_SCHEMA}
    extra: set[str] = set()
    with _open_text(path) as handle:
        for number, line in enumerate(handle):
            if number >= sample_rows:
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                extra |= set(row) - known - {PARTITION_COLUMN}
    return tuple(sorted(extra))


def _explain(path: Path, kind: str, exc: Exception) -> InvalidRequest:
    """The first bad row and field, found by reading the file again (only once a load has failed)."""
    if kind == "ndjson":
        found = first_bad_row(path)
        if found:
            line, field, problem = found
            return InvalidRequest(
                f"{path.name}: line {line}: field {field}: {problem}; nothing was loaded", field=field
            )
    bad_field = getattr(exc, "field", None)
    message = f"{path.name}: {_first_line(exc)}; nothing was loaded"
    return InvalidRequest(message, **({"field": bad_field} if bad_field else {}))


def first_bad_row(path: Path) -> tuple[int, str, str] | None:
    """(line number, dotted field, problem) of the first row that does not fit the schema."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                return number, "(row)", f"not valid JSON ({exc.msg})"
            if not isinstance(row, dict):
                return number, "(row)", "not a JSON object"
            for field in STANDARD_EXPORT_SCHEMA:
                problem = _check(field, row.get(field.name), field.name)
                if problem:
                    return number, problem[0], problem[1]
    return None


def _check(field: Field, value: Any, where: str) -> tuple[str, str] | None:
    if value is None:
        return (where, "missing (the standard export always has it)") if field.mode == "REQUIRED" else None
    if field.mode == "REPEATED":
        if not isinstance(value, list):
            return where, f"expected a list, got {json.dumps(value)[:60]}"
        for index, item in enumerate(value):
            problem = _check(Field(field.name, field.type, "NULLABLE", field.fields), item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if field.type == "RECORD":
        if not isinstance(value, dict):
            return where, f"expected an object, got {json.dumps(value)[:60]}"
        for sub in field.fields:
            problem = _check(sub, value.get(sub.name), f"{where}.{sub.name}")
            if problem:
                return problem
        return None
    shown = json.dumps(value)[:60]
    if field.type == "STRING" and not isinstance(value, str):
        return where, f"expected a string, got {shown}"
    if field.type in {"FLOAT", "INTEGER"}:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (field.type == "INTEGER" and not float(number).is_integer()):
            return where, f"expected a number, got {shown}"
    if field.type == "BOOLEAN" and not isinstance(value, bool):
        return where, f"expected true or false, got {shown}"
    if field.type == "TIMESTAMP" and not _is_timestamp(value):
        return where, f"expected a timestamp such as 2025-11-25 10:00:00 UTC or 2025-11-25T10:00:00Z, got {shown}"
    return None


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
