"""An org's FOCUS rows for a range of days, as CSV or Parquet.

The rows come from the org's ``focus_costs`` view (every provider's FOCUS table), within the
caller's org only: the dataset is the org record's, never a request's. An export is bounded in days
and in rows; one over the row bound is refused whole (413), never cut short, so a file is always
complete for the days it says it covers.

Parquet is written by pyarrow (imported only when a Parquet export is asked for): money and
quantities stay DECIMAL(38, 9), unit prices DECIMAL(38, 18), timestamps stay UTC instants.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.domain import focus
from shared.domain.orgs import Organization
from shared.errors import CloudActError, InvalidRequest, NotFound, PayloadTooLarge, TerminalError
from shared.ports import JobLabels, QueryResult, Warehouse

VIEW = "focus_costs"
PARAMETERS = {"start", "end"}
FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
CHUNK_BYTES = 256 * 1024
TIMESTAMPS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "x_SourceExportTime")


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date
    """Inclusive: the last charge day exported."""


def parse_range(args: Mapping[str, str], max_days: int) -> DateRange:
    unknown = sorted(set(args) - PARAMETERS)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter: {unknown[0]}", field=unknown[0])
    days: dict[str, date] = {}
    for name in ("start", "end"):
        raw = args.get(name)
        if not raw:
            raise InvalidRequest(f"Missing {name}: expected YYYY-MM-DD", field=name)
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            raise InvalidRequest(f"Invalid {name}: expected YYYY-MM-DD", field=name) from None
    if days["end"] < days["start"]:
        raise InvalidRequest("end is before start", field="end")
    if (days["end"] - days["start"]).days + 1 > max_days:
        raise InvalidRequest(f"At most {max_days} days per export", field="end")
    return DateRange(days["start"], days["end"])


def fetch(warehouse: Warehouse, org: Organization, days: DateRange, max_rows: int) -> QueryResult:
    """The org's FOCUS rows charged in ``days``, in a stable order."""
    sql = (
        f"SELECT * FROM `{org.dataset}.{VIEW}` WHERE x_ChargeDate BETWEEN @start AND @end"
        " ORDER BY x_ChargeDate, ProviderName, BillingAccountId, SubAccountId, ServiceName, SkuId, ChargeCategory,"
        " BilledCost LIMIT @limit"
    )
    try:
        result = warehouse.query(
            sql,
            {"start": days.start, "end": days.end, "limit": max_rows + 1},
            labels=JobLabels(org.slug, "focus-export", "export"),
        )
    except CloudActError as exc:
        # the view appears with the org's first FOCUS rows; both engines name it when it is missing
        if not exc.transient and VIEW in exc.message and ("not exist" in exc.message or "Not found" in exc.message):
            raise NotFound("No FOCUS data for this organization yet: run a billing pipeline first") from None
        raise
    if len(result.rows) > max_rows:
        raise PayloadTooLarge(f"More than {max_rows} FOCUS rows in this range: export fewer days at a time")
    return result


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # FOCUS's date/time format: ISO 8601 in UTC with a Z
        instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def csv_chunks(result: QueryResult) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_value(value) for value in row])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _arrow_type(name: str, values: list[Any]) -> Any:
    import pyarrow as pa

    if name in focus.UNIT_PRICES:
        return pa.decimal128(38, 18)
    if name in focus.DECIMALS:
        return pa.decimal128(38, 9)
    if name in TIMESTAMPS:
        return pa.timestamp("us", tz="UTC")
    sample = next((value for value in values if value is not None), None)
    if isinstance(sample, Decimal):
        # a provider's own decimal column: as many places as its values use
        scale = max((-int(v.as_tuple().exponent) for v in values if isinstance(v, Decimal)), default=0)
        return pa.decimal128(38, min(max(scale, 0), 37))
    for python_type, arrow_type in (
        (bool, pa.bool_()),
        (int, pa.int64()),
        (datetime, pa.timestamp("us", tz="UTC")),
        (date, pa.date32()),
    ):
        if isinstance(sample, python_type):
            return arrow_type
    return pa.string()


def write_parquet(result: QueryResult, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = (
        [list(values) for values in zip(*result.rows, strict=True)] if result.rows else [[] for _ in result.columns]
    )
    arrays = []
    for name, values in zip(result.columns, columns, strict=True):
        try:
            arrays.append(pa.array(values, type=_arrow_type(name, values)))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TerminalError(f"FOCUS column {name} cannot be written to Parquet: {exc}") from None
    pq.write_table(pa.Table.from_arrays(arrays, names=list(result.columns)), path)


def parquet_chunks(result: QueryResult) -> Iterator[bytes]:
    """Written to a temporary file first (Parquet's footer comes last, and a failure must come
    before the response starts), then streamed from it and removed."""
    handle, name = tempfile.mkstemp(suffix=".parquet")
    os.close(handle)
    path = Path(name)
    try:
        write_parquet(result, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise

    def stream() -> Iterator[bytes]:
        try:
            with path.open("rb") as file:
                while chunk := file.read(CHUNK_BYTES):
                    yield chunk
        finally:
            path.unlink(missing_ok=True)

    return stream()


def chunks(result: QueryResult, kind: str) -> Iterator[bytes]:
    return parquet_chunks(result) if kind == "parquet" else csv_chunks(result)


def filename(org: Organization, days: DateRange, kind: str) -> str:
    return f"focus-{org.slug}-{days.start.isoformat()}-{days.end.isoformat()}.{kind}"
