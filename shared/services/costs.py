"""Reading an org's costs from its FOCUS view, ``{org dataset}.focus_costs``.

The query is built from a fixed vocabulary (group keys and cost columns map to SQL fragments
written here); every value the caller sends is bound as a query parameter. The range is filtered
twice: on ``x_ChargeDate``, the FOCUS tables' day-partition column (the day of
``ChargePeriodStart``), with constant bounds, so BigQuery reads only the partitions in range; and on
``ChargePeriodStart`` itself, which is what the range means. Amounts stay ``Decimal`` from the
warehouse to the answer, where they are strings, and are never added across currencies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain.orgs import Organization
from shared.domain.runs import RunStatus
from shared.errors import InvalidRequest, TerminalError
from shared.logs import get_logger
from shared.ports import JobLabels, QueryResult, QueryValue, RunFilter, Store, Warehouse

log = get_logger("costs")

VIEW = "focus_costs"
PARTITION_COLUMN = "x_ChargeDate"
"""The day partition of every FOCUS table behind the view: DATE(ChargePeriodStart)."""
MAX_DAYS = 366
MAX_GROUPS = 3
MAX_ROWS = 50_000
"""More groups than this is a question better asked with a narrower range or fewer keys."""
MAX_FILTER_LENGTH = 512
ZERO = Decimal(0)
CENT = Decimal("1e-9")
"""NUMERIC's scale: every amount is shown with the same nine decimal places."""

# group key -> the SQL that computes it (BigQuery dialect)
GROUPS: dict[str, str] = {
    "day": "DATE(ChargePeriodStart)",
    "month": "DATE_TRUNC(DATE(ChargePeriodStart), MONTH)",
    "provider": "ProviderName",
    "service": "ServiceName",
    "sub_account": "SubAccountId",
    "region": "RegionId",
    "charge_category": "ChargeCategory",
}
TIME_GROUPS = ("day", "month")
COSTS = {"billed": "BilledCost", "effective": "EffectiveCost", "list": "ListCost"}
FILTERS = {"provider": "ProviderName", "service": "ServiceName", "sub_account": "SubAccountId"}
QUERY_PARAMETERS = {"start", "end", "group_by", "cost", *FILTERS}
FRESHNESS_PAGES = 5
"""Pages of recent COMPLETE runs searched for each provider's latest."""


@dataclass(frozen=True)
class CostQuery:
    start: date
    end: date
    group_by: tuple[str, ...] = ()
    cost: str = "billed"
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """The answer's row fields, in order."""
        names = list(self.group_by)
        if "sub_account" in self.group_by:
            names.insert(names.index("sub_account") + 1, "sub_account_name")
        return (*names, "currency", "amount")


def _day(args: Mapping[str, str], name: str) -> date:
    raw = args.get(name)
    if raw is None:
        raise InvalidRequest(f"Missing query parameter: {name} (YYYY-MM-DD)", field=name)
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid {name}: expected a date YYYY-MM-DD", field=name) from None


def parse_query(args: Mapping[str, str]) -> CostQuery:
    """The request's query string as a ``CostQuery``; a 400 naming the parameter otherwise."""
    unknown = sorted(set(args) - QUERY_PARAMETERS)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter: {unknown[0]}", field=unknown[0])
    start, end = _day(args, "start"), _day(args, "end")
    if end < start:
        raise InvalidRequest("end is before start", field="end")
    if end >= date.max:  # the day after end bounds the query
        raise InvalidRequest("end is out of range", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequest(f"The range spans more than {MAX_DAYS} days", field="end")
    raw_groups = args.get("group_by", "")
    group_by = tuple(part.strip() for part in raw_groups.split(",")) if raw_groups.strip() else ()
    for key in group_by:
        if key not in GROUPS:
            raise InvalidRequest(f"Invalid group_by {key!r}: expected any of {', '.join(GROUPS)}", field="group_by")
    if len(set(group_by)) != len(group_by):
        raise InvalidRequest("group_by names a key twice", field="group_by")
    if len(group_by) > MAX_GROUPS:
        raise InvalidRequest(f"group_by takes at most {MAX_GROUPS} keys", field="group_by")
    cost = args.get("cost", "billed")
    if cost not in COSTS:
        raise InvalidRequest(f"Invalid cost: expected {', '.join(COSTS)}", field="cost")
    filters: dict[str, str] = {}
    for name in FILTERS:
        value = args.get(name)
        if value is None:
            continue
        if not value or len(value) > MAX_FILTER_LENGTH or "\x00" in value:
            raise InvalidRequest(f"Invalid {name}: 1 to {MAX_FILTER_LENGTH} characters", field=name)
        filters[name] = value
    return CostQuery(start=start, end=end, group_by=group_by, cost=cost, filters=filters)


def build_sql(project: str, dataset: str, query: CostQuery) -> tuple[str, dict[str, QueryValue]]:
    """The statement and its parameters. Only identifiers from this module and the org record (the
    dataset, derived from a validated slug) are written into the SQL."""
    selects = []
    for key in query.group_by:
        selects.append(f"{GROUPS[key]} AS {key}")
        if key == "sub_account":
            selects.append("ANY_VALUE(SubAccountName) AS sub_account_name")
    selects += ["BillingCurrency AS currency", f"SUM({COSTS[query.cost]}) AS amount"]
    params: dict[str, QueryValue] = {
        # constant bounds on the partition column: the warehouse prunes to them
        "start": query.start,
        "end": query.end,
        "start_ts": datetime(query.start.year, query.start.month, query.start.day, tzinfo=UTC),
        "end_ts": datetime(query.end.year, query.end.month, query.end.day, tzinfo=UTC) + timedelta(days=1),
    }
    where = [
        f"{PARTITION_COLUMN} BETWEEN @start AND @end",
        "ChargePeriodStart >= @start_ts",
        "ChargePeriodStart < @end_ts",
    ]
    for name, value in query.filters.items():
        where.append(f"{FILTERS[name]} = @{name}")
        params[name] = value
    group_keys = [*query.group_by, "currency"]
    order = [key for key in query.group_by if key in TIME_GROUPS]
    order += ["amount DESC", *(key for key in query.group_by if key not in TIME_GROUPS), "currency"]
    sql = (
        f"SELECT {', '.join(selects)}"
        f" FROM `{project}.{dataset}.{VIEW}`"
        f" WHERE {' AND '.join(where)}"
        f" GROUP BY {', '.join(group_keys)}"
        f" ORDER BY {', '.join(order)}"
        f" LIMIT {MAX_ROWS + 1}"
    )
    return sql, params


def amount_text(value: Any) -> str:
    amount = value if isinstance(value, Decimal) else Decimal(str(value or 0))
    return format(amount.quantize(CENT), "f")


def _day_text(value: Any) -> str | None:
    return None if value is None else (value.date() if isinstance(value, datetime) else value).isoformat()


def _month_text(value: Any) -> str | None:
    day = _day_text(value)
    return None if day is None else day[:7]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _converter(key: str) -> Any:
    """How a group key's warehouse value is shown: dates as ISO text, everything else as text."""
    return {"day": _day_text, "month": _month_text}.get(key, _text)


@dataclass(frozen=True)
class CostReport:
    query: CostQuery
    rows: list[dict[str, Any]]
    totals: list[dict[str, str]]
    freshness: list[dict[str, Any]]
    bytes_billed: int

    def public(self, org_slug: str) -> dict[str, Any]:
        return {
            "org_slug": org_slug,
            "start": self.query.start.isoformat(),
            "end": self.query.end.isoformat(),
            "cost": self.query.cost,
            "group_by": list(self.query.group_by),
            "filters": dict(self.query.filters),
            "columns": list(self.query.columns),
            "rows": self.rows,
            "totals": self.totals,
            "freshness": self.freshness,
        }

    def csv(self) -> str:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.query.columns)
        for row in self.rows:
            writer.writerow(["" if row[name] is None else _csv_safe(str(row[name])) for name in self.query.columns])
        return out.getvalue()


def _csv_safe(text: str) -> str:
    # a tenant-controlled name opened in a spreadsheet must not run as a formula
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def report(
    warehouse: Warehouse,
    store: Store,
    project: str,
    org: Organization,
    query: CostQuery,
    *,
    max_bytes_billed: int,
) -> CostReport:
    sql, params = build_sql(project, org.dataset, query)
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    try:
        result = warehouse.query(
            sql, params, labels=JobLabels(org.slug, request_id, "cost_report"), max_bytes_billed=max_bytes_billed
        )
    except TerminalError as exc:
        if not _missing_view(exc):
            raise
        # an org whose pipelines have not produced FOCUS rows yet has no costs, which is no error
        result = QueryResult(columns=(), rows=[])
    log.info(
        f"cost query: {len(result.rows)} rows, {result.bytes_billed} bytes billed,"
        f" {result.bytes_processed} bytes processed",
        extra={
            "org_slug": org.slug,
            "run_id": request_id,
            "rows": len(result.rows),
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
    )
    if len(result.rows) > MAX_ROWS:
        raise InvalidRequest(
            f"More than {MAX_ROWS} groups: narrow the range, the filters or group_by", field="group_by"
        )
    rows: list[dict[str, Any]] = []
    totals: dict[str, Decimal] = {}
    if result.rows:
        columns = query.columns
        *keys, amount_name = columns
        plan = [(position, _converter(name)) for position, name in zip(_positions(result, keys), keys, strict=True)]
        amount_at, currency_at = result.columns.index(amount_name), keys.index("currency")
        for values in result.rows:
            cells = [convert(values[at]) for at, convert in plan]
            raw = values[amount_at]
            amount = raw if isinstance(raw, Decimal) else Decimal(str(raw or 0))
            cells.append(format(amount.quantize(CENT), "f"))
            rows.append(dict(zip(columns, cells, strict=True)))
            currency = cells[currency_at] or ""
            totals[currency] = totals.get(currency, ZERO) + amount
    return CostReport(
        query=query,
        rows=rows,
        totals=[{"currency": currency, "amount": amount_text(total)} for currency, total in sorted(totals.items())],
        freshness=freshness(store, org),
        bytes_billed=result.bytes_billed,
    )


def _positions(result: QueryResult, names: list[str]) -> list[int]:
    return [result.columns.index(name) for name in names]


def _missing_view(exc: TerminalError) -> bool:
    text = exc.message.lower()
    return VIEW in text and ("not found" in text or "does not exist" in text)


def freshness(store: Store, org: Organization) -> list[dict[str, Any]]:
    """Per provider, the latest COMPLETE run (newest first in the store) and its source watermark."""
    latest: dict[str, dict[str, Any]] = {}
    token: str | None = None
    for _ in range(FRESHNESS_PAGES):
        page = store.list_runs(RunFilter(org_slug=org.slug, status=RunStatus.COMPLETE, page_size=100, page_token=token))
        for run in page.runs:
            if run.provider in latest:
                continue
            latest[run.provider] = {
                "provider": run.provider,
                "pipeline_id": run.pipeline_id,
                "pipeline_logging_id": run.run_id,
                "date": run.parameters.get("date"),
                "completed_at": run.end_time,
                "source_watermark": run.source_watermark,
            }
        token = page.next_page_token
        if not token:
            break
    return [latest[provider] for provider in sorted(latest)]
