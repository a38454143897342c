"""What every "organization admin API" provider shares: a processor that reads one usage day of an
endpoint, flattens the vendor's results into rows, and reports the day's content hash as the
source's watermark.

A vendor module (``shared/providers/{name}/api.py``) supplies a ``Vendor``: how to authenticate,
how to spell a time range, and its ``Endpoint`` s (the path, the grouping asked for, and how one
result becomes one row). The rows then go to ``warehouse.load_day`` like any other pipeline's.

The watermark is a hash of the day's rows as fetched: vendors restate recent days without any
export time to compare, so "unchanged" means "the same rows". An unchanged day is skipped by the
engine's gate; a restated one is reloaded in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared import providers
from shared.errors import TerminalError
from shared.pipelines.config import PipelineConfig, Step
from shared.pipelines.context import StepContext, StepOutcome
from shared.ports import QueryResult
from shared.providers.vendor_http import VendorApi, fetch_buckets
from shared.settings import Settings

EXACT = Context(prec=80, traps=[Inexact, InvalidOperation])
"""Summing amounts never rounds: an inexact sum raises instead (80 digits is far beyond any day's)."""
NUMERIC_STEP = Decimal("1E-9")
"""An amount's finest unit in the warehouses: NUMERIC in BigQuery, DECIMAL(38, 9) in DuckDB."""
NUMERIC_LIMIT = Decimal("1E29")
"""NUMERIC holds 29 integer digits: every amount's magnitude stays below this."""
_ROUNDING = Context(prec=40, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation])
VERIFY_RETRY_BUDGET_S = 5.0

Flatten = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    path: str
    group_by: tuple[str, ...]
    dimensions: tuple[str, ...]
    """Row key columns besides ``usage_date``: the vendor's grouping keys, NULL kept as NULL."""
    measures: tuple[str, ...]
    """Summed columns: money amounts (named in ``amounts``) or integer counts."""
    flatten: Flatten
    """One vendor result -> its dimensions and measures (amounts already in currency units)."""
    amounts: tuple[str, ...] = ()
    """The measures that are money: each vendor value is rounded once to NUMERIC (``round_to_numeric``)."""


class Vendor:
    """A vendor's admin API. Subclasses set the class attributes and the three methods."""

    provider: str
    label: str
    base_url_env: str
    base_url_default: str
    endpoints: ClassVar[Mapping[str, Endpoint]]
    """By source id (as the provider declares its sources)."""
    group_by_param: str = "group_by"

    def headers(self, admin_key: str) -> dict[str, str]:
        raise NotImplementedError

    def time_params(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        raise NotImplementedError

    def bucket_start(self, bucket: Mapping[str, Any]) -> datetime:
        raise NotImplementedError

    def api(self, admin_key: str, settings: Settings) -> VendorApi:
        import os

        base_url = os.environ.get(self.base_url_env) or self.base_url_default
        return VendorApi(
            label=self.label,
            base_url=base_url.rstrip("/"),
            headers=self.headers(admin_key),
            timeout_s=settings.vendor_timeout_s,
            retry_budget_s=settings.vendor_retry_budget_s,
        )

    def fetch(
        self,
        admin_key: str,
        source: str,
        first_day: date,
        last_day: date,
        *,
        settings: Settings,
        page_limit: int | None = None,
        retry_budget_s: float | None = None,
    ) -> list[tuple[date, Mapping[str, Any]]]:
        """Every result of ``source`` for the days ``first_day``..``last_day`` (inclusive), with its
        bucket's day."""
        api = self.api(admin_key, settings)
        if retry_budget_s is not None:
            api = replace(api, retry_budget_s=retry_budget_s)
        endpoint = self.endpoints[source]
        start = datetime.combine(first_day, time(), UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(), UTC)
        params = [*self.time_params(start, end), ("bucket_width", "1d")]
        params += [(self.group_by_param, field) for field in endpoint.group_by]
        if page_limit is not None:
            params.append(("limit", str(page_limit)))
        results: list[tuple[date, Mapping[str, Any]]] = []
        for bucket in fetch_buckets(api, endpoint.path, params):
            day = self.bucket_start(bucket).date()
            for result in bucket.get("results") or ():
                if isinstance(result, Mapping):
                    results.append((day, result))
        return results

    def rows(self, source: str, results: Sequence[tuple[date, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        """The results flattened and summed per day and grouping key (a vendor that splits one
        group over two results still gives one row), with how many results each row sums."""
        endpoint = self.endpoints[source]
        grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
        with localcontext(EXACT):
            for day, result in results:
                self._add(endpoint, grouped, day, result)
        return [grouped[key] for key in sorted(grouped, key=_sort_key)]

    def _add(
        self, endpoint: Endpoint, grouped: dict[tuple[Any, ...], dict[str, Any]], day: date, result: Mapping[str, Any]
    ) -> None:
        flat = endpoint.flatten(result)
        for measure in endpoint.measures:
            value = flat.get(measure)
            if measure in endpoint.amounts:
                flat[measure] = round_to_numeric(_amount(self.label, measure, value), self.label, measure)
            else:
                flat[measure] = _count(self.label, measure, value)
        key = (day, *(flat.get(name) for name in endpoint.dimensions))
        row = grouped.get(key)
        if row is None:
            grouped[key] = {
                "usage_date": day,
                **{name: flat.get(name) for name in endpoint.dimensions},
                **{name: flat[name] for name in endpoint.measures},
                "source_rows": 1,
            }
        else:
            for name in endpoint.measures:
                row[name] += flat[name]
                if name in endpoint.amounts and row[name].copy_abs() >= NUMERIC_LIMIT:
                    raise TerminalError(
                        f"{self.label}'s {name} for one day and group exceeds NUMERIC's 29 integer digits"
                    )
            row["source_rows"] += 1


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is not None, str(value) if value is not None else "") for value in key)


def _amount(label: str, name: str, value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TerminalError(f"{label} sent a non-numeric {name}")
    if isinstance(value, int):
        return Decimal(value)
    if not value.is_finite():
        raise TerminalError(f"{label} sent a non-finite {name}")
    return value


def _count(label: str, name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 19 and value % 1 == 0:
        value = int(value)  # a count written as 12.0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TerminalError(f"{label} sent a non-integer {name}")
    if not -(2**63) <= value < 2**63:
        raise TerminalError(f"{label} sent {name} beyond INT64")
    return value


def round_to_numeric(value: Decimal, label: str, name: str = "amount") -> Decimal:
    """A vendor's exact amount -> the NUMERIC value stored for it: 9 decimal places, half-even.

    Money columns are NUMERIC (DuckDB DECIMAL(38, 9)) in the providers' daily tables. OpenAI serializes
    amounts as binary floats (``0.030862499999999998``): the digits past the 9th decimal are the
    float's printing artefacts, not money (a nano-unit is already finer than the micro-unit the
    figures promise). The amount is rounded here, once, as it is read, so every later step (sums,
    hashes, loads) works on exact NUMERIC values; half-even so that the rounding of many amounts
    does not bias their sum. An amount NUMERIC cannot hold (29 integer digits) fails the run.
    """
    if value and value.adjusted() >= 29:  # checked first: quantizing a huge exponent is refused
        raise TerminalError(f"{label}'s {name} is beyond NUMERIC's 29 integer digits")
    rounded = value.quantize(NUMERIC_STEP, context=_ROUNDING)
    if rounded.copy_abs() >= NUMERIC_LIMIT:  # 99...9.9999999996 carries into a 30th digit
        raise TerminalError(f"{label}'s {name} is beyond NUMERIC's 29 integer digits")
    return rounded if rounded else rounded.copy_abs()  # -1e-12 rounds to 0, not -0


def cents_to_units(value: Any, label: str, name: str = "amount") -> Decimal:
    """A decimal string of cents -> currency units, exactly (a shift of the decimal point; the
    result is rounded to NUMERIC with every other amount, by ``round_to_numeric``)."""
    if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
        raise TerminalError(f"{label} sent a {name} that is not a decimal string")
    try:
        cents = Decimal(value)
    except ArithmeticError:
        raise TerminalError(f"{label} sent a {name} that is not a decimal string") from None
    if not cents.is_finite():
        raise TerminalError(f"{label} sent a non-finite {name}")
    return cents.scaleb(-2, EXACT)  # moves the point; never rounds (EXACT traps an inexact result)


def content_hash(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """The day's rows as one hash: equal rows, equal hash, whatever order the vendor sent them in."""
    canonical = json.dumps([[_canonical(row.get(name)) for name in columns] for row in rows], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


class FetchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str


class AdminApiFetch:
    """The processor: ``{vendor}.admin_api`` with ``config: {source: <one of the provider's sources>}``."""

    vendor: Vendor

    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        try:
            config = FetchConfig.model_validate(step.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"step {step.name}: config.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        source = providers.source(self.vendor.provider, config.source)
        if source is None or config.source not in self.vendor.endpoints:
            known = ", ".join(sorted(self.vendor.endpoints))
            raise ValueError(f"step {step.name}: unknown source {config.source} (known: {known})")
        if source.integration not in pipeline.required_integrations:
            raise ValueError(
                f"step {step.name}: reading {config.source} needs {source.integration} in required_integrations"
            )
        parameter = pipeline.parameter("date")
        if parameter is None or parameter.type != "date":
            raise ValueError(f"step {step.name}: the pipeline needs a date parameter (the usage day)")

    def run(self, step: Step, ctx: StepContext, outputs: Mapping[str, Any]) -> StepOutcome:
        source_id = str(step.config["source"])
        source = providers.source(self.vendor.provider, source_id)
        assert source is not None
        admin_key = str(ctx.integrations[source.integration].credentials["admin_key"])
        day = ctx.parameters["date"]
        assert isinstance(day, date)
        fetched_at = datetime.now(UTC)
        results = self.vendor.fetch(admin_key, source_id, day, day, settings=ctx.settings)
        rows = self.vendor.rows(source_id, results)
        endpoint = self.vendor.endpoints[source_id]
        keyed = ("usage_date", *endpoint.dimensions, *endpoint.measures, "source_rows")
        watermark = content_hash(keyed, rows)
        columns = (*keyed, "source_content_hash", "fetched_at")
        table = [(*(row[name] for name in keyed), watermark, fetched_at) for row in rows]
        return StepOutcome(rows=len(table), output=QueryResult(columns=columns, rows=table), watermark=watermark)


def verify(vendor: Vendor, credential: bytes, source: str, settings: Settings) -> None:
    """One cheap call (yesterday, one bucket): is the key accepted? A refusal becomes a 400 and the
    key is not stored."""
    from shared.errors import InvalidRequest

    admin_key = json.loads(credential)["admin_key"]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    try:
        # a person is waiting on the answer: a short budget, then 503 (try again) rather than a hang
        vendor.fetch(
            admin_key,
            source,
            yesterday,
            yesterday,
            settings=settings,
            page_limit=1,
            retry_budget_s=VERIFY_RETRY_BUDGET_S,
        )
    except TerminalError as exc:
        if "rejected the organization admin key" in exc.message:
            raise InvalidRequest(
                f"Invalid credential: rejected by {vendor.label} (the key is not valid or not an admin key)",
                field="credential",
            ) from None
        raise InvalidRequest(f"Invalid credential: could not be verified: {exc.message}", field="credential") from None
