"""``gcp.bq_etl``: a warehouse query step, a watermark step, or a day-partition load step.

A query step runs BigQuery SQL against the org's source (its billing export, read with the org's
own credentials) and keeps the already-aggregated result. A load step writes the previous step's
result into the org's dataset, replacing exactly one day partition (``warehouse.load_day``). A
step marked ``gate: source_changed`` runs a query whose only value is the source's watermark for the
day; whether the run goes on is the engine's decision (``shared.pipelines.runner``).

Cost: the billing export is partitioned, so its SQL must bound the partitions it reads (checked at
load, ``partition_guard``), and before a run's first real query every query step still ahead is
dry-run: a run whose estimate exceeds a step's ``max_bytes_billed`` fails before anything is billed.

A query step without a ``source`` reads the org's own dataset instead (``{org_dataset}`` in its SQL),
e.g. a provider's FOCUS mapping of the table an earlier step just loaded (``docs/focus.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared import providers
from shared.domain import identifiers
from shared.domain.runs import iso
from shared.errors import TerminalError
from shared.pipelines import partition_guard
from shared.pipelines.config import PipelineConfig, Step
from shared.pipelines.context import StepContext, StepOutcome
from shared.pipelines.processors import load_day
from shared.pipelines.processors.load_day import ColumnConfig
from shared.pipelines.processors.step_configs import StepConfigs
from shared.pipelines.runner import baseline_watermark
from shared.ports import QueryResult, Warehouse

SOURCE_PLACEHOLDER = "{source}"
ORG_DATASET_PLACEHOLDER = "{org_dataset}"
RUN_PARAMETERS = ("run_id", "org_slug")
"""Values of the run itself a step's SQL may bind (``@run_id``, ``@org_slug``), besides the
pipeline's parameters."""
DEFAULT_MAX_BYTES_BILLED = 100 * 1024**3
PARTITIONED_SOURCES = {"integration.billing_export_table"}
"""Sources partitioned by ``_PARTITIONTIME`` (the Cloud Billing export): SQL reading them must
bound the partitions it reads unless its step sets ``require_partition_filter: false``."""


class BqEtlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # query step (``source``: one the gcp provider declares, checked at load)
    source: str | None = None
    sql: str | None = None
    max_bytes_billed: int = Field(default=DEFAULT_MAX_BYTES_BILLED, gt=0)
    watermark_column: str | None = None
    """An output column whose maximum is the source's watermark (recorded on the run)."""
    warning_column: str | None = None
    """An output column whose non-null values are recorded as the run's warnings (the rows still
    load): e.g. a FOCUS row that fell back to a default because its source had no counterpart."""
    require_partition_filter: bool = True
    """False accepts SQL that reads a partitioned source without a partition filter (a full scan)."""
    # load step
    target_table: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    from_step: str | None = None
    partition_by: str | None = None
    partition_parameter: str = "date"
    write_disposition: Literal["WRITE_TRUNCATE"] = "WRITE_TRUNCATE"
    clustering: tuple[str, ...] = ()
    table_schema: tuple[ColumnConfig, ...] = Field(default=(), alias="schema")

    @model_validator(mode="after")
    def one_kind(self) -> BqEtlConfig:
        if (self.sql is None) == (self.target_table is None):
            raise ValueError("a gcp.bq_etl step needs exactly one of `sql` (query) or `target_table` (load)")
        if self.target_table is not None:
            if not self.table_schema:
                raise ValueError("a load step needs a `schema`")
            try:
                self.load_config()  # the same rules as warehouse.load_day
            except ValidationError as exc:
                raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self

    def load_config(self) -> load_day.LoadConfig:
        return load_day.LoadConfig.model_validate(
            self.model_dump(
                include={
                    "target_table",
                    "from_step",
                    "partition_by",
                    "partition_parameter",
                    "write_disposition",
                    "clustering",
                    "table_schema",
                },
                by_alias=True,
            )
        )


class BigQueryEtl:
    def __init__(self) -> None:
        self._config = StepConfigs(BqEtlConfig)

    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        try:
            config = self._config(step)
        except ValidationError as exc:
            raise load_day.describe(step, exc) from None
        if config.sql is not None:
            if config.source and providers.source("gcp", config.source) is None:
                raise ValueError(f"step {step.name}: unknown source {config.source}")
            if step.gate and config.watermark_column:
                raise ValueError(f"step {step.name}: a gate reads its watermark from its only column")
            if step.gate and config.warning_column:
                raise ValueError(f"step {step.name}: a gate has no rows to warn about")
            sql_path = (pipeline.directory / config.sql).resolve()
            if pipeline.directory.resolve() not in sql_path.parents or not sql_path.is_file():
                raise ValueError(f"step {step.name}: sql file {config.sql} not found beside the pipeline file")
            sql = sql_path.read_text()
            if config.source and SOURCE_PLACEHOLDER not in sql:
                raise ValueError(f"step {step.name}: {config.sql} must select FROM `{SOURCE_PLACEHOLDER}`")
            if config.source in PARTITIONED_SOURCES and config.require_partition_filter:
                problem = partition_guard.check(sql, SOURCE_PLACEHOLDER, pipeline.directory)
                if problem:
                    raise ValueError(f"step {step.name}: {config.sql} {problem}")
        else:
            load_day.check_placement(step, config.load_config(), pipeline, index)

    def run(self, step: Step, ctx: StepContext, outputs: Mapping[str, Any]) -> StepOutcome:
        config = self._config(step)
        if config.sql is not None:
            return self._query(step, config, ctx)
        return load_day.load(step, config.load_config(), ctx, outputs)

    def _query(self, step: Step, config: BqEtlConfig, ctx: StepContext) -> StepOutcome:
        if step.gate and baseline_watermark(ctx) is None:
            return StepOutcome(rows=0)  # the engine has nothing to compare it with: no need to look
        sql, warehouse, source_table = _resolved(config, ctx)
        if self._first_query(step, ctx):
            self._check_budgets(step, ctx)
        parameters = _bound_parameters(sql, ctx)
        result = warehouse.query(
            sql, parameters, labels=ctx.labels(step.name), max_bytes_billed=config.max_bytes_billed
        )
        warnings: tuple[str, ...] = ()
        if config.source and not step.gate and not result.rows:
            day = ctx.parameters.get("date")
            when = f" for {day.isoformat()}" if isinstance(day, date) else ""
            warnings = (f"no source rows{when} in `{source_table}`",)
        if config.warning_column and config.warning_column in result.columns:
            warnings += _row_warnings(step, config.warning_column, result)
        measured = StepOutcome(
            rows=len(result.rows),
            bytes_processed=result.bytes_processed,
            bytes_billed=result.bytes_billed,
            warnings=warnings,
        )
        if step.gate:
            return replace(measured, watermark=_as_watermark(result.rows[0][0] if result.rows else None))
        watermark = None
        if config.watermark_column and config.watermark_column in result.columns:
            index = result.columns.index(config.watermark_column)
            watermark = _as_watermark(max((row[index] for row in result.rows if row[index] is not None), default=None))
        return replace(measured, output=result, watermark=watermark)

    def _first_query(self, step: Step, ctx: StepContext) -> bool:
        """Whether no step before this one has queried in this run (a gate queries only when the
        engine has a watermark to compare with)."""
        return not any(
            earlier.processor == step.processor
            and self._config(earlier).sql is not None
            and (not earlier.gate or baseline_watermark(ctx) is not None)
            for earlier in ctx.pipeline.steps[: ctx.pipeline.steps.index(step)]
        )

    def _check_budgets(self, step: Step, ctx: StepContext) -> None:
        """Dry-runs this query and every query step after it, before the first of them runs: a
        run that would exceed a step's byte budget fails having billed nothing."""
        for later in ctx.pipeline.steps[ctx.pipeline.steps.index(step) :]:
            if later.processor != step.processor or self._config(later).sql is None:
                continue
            config = self._config(later)
            if config.source is None:
                # a query of the org's own tables reads what this run loads (they may not exist yet);
                # its size does not grow with the export's history, and its byte ceiling still applies
                continue
            sql, warehouse, _ = _resolved(config, ctx)
            estimate = warehouse.estimate_bytes(
                sql,
                _bound_parameters(sql, ctx),
                labels=ctx.labels(later.name),
                max_bytes_billed=config.max_bytes_billed,
            )
            if estimate > config.max_bytes_billed:
                raise TerminalError(
                    f"step {later.name}: the query would process {_size(estimate)} by its dry-run estimate, "
                    f"over the step's budget max_bytes_billed = {_size(config.max_bytes_billed)}; nothing was "
                    "run. Narrow what it reads (its partition window) or raise max_bytes_billed"
                )


def _resolved(config: BqEtlConfig, ctx: StepContext) -> tuple[str, Warehouse, str | None]:
    """The step's SQL with its source filled in, the warehouse that may read that source, and the
    source table (None for a query of the platform's own tables)."""
    sql = (ctx.pipeline.directory / str(config.sql)).read_text()
    source = providers.source("gcp", config.source) if config.source else None
    if source is None:
        # the org's dataset comes from its record (derived from a validated slug), never a request
        return sql.replace(ORG_DATASET_PLACEHOLDER, ctx.org.dataset), ctx.warehouses.platform(), None
    field = str(source.metadata_field)
    secret = ctx.integrations[source.integration]
    source_table = identifiers.table_id(secret.metadata.get(field), field)
    warehouse = ctx.warehouses.for_credentials(secret.credentials)
    return sql.replace(SOURCE_PLACEHOLDER, source_table), warehouse, source_table


def _bound_parameters(sql: str, ctx: StepContext) -> dict[str, Any]:
    """The pipeline's parameters and the run's own values (``@run_id``, ``@org_slug``) that the SQL
    names: only those, since an unused named parameter is an error on DuckDB (a FOCUS mapping, for
    one, has no use for the export's ``@source_window_days``)."""
    run_values = {"run_id": ctx.run.run_id, "org_slug": ctx.org.slug}
    available = {**ctx.parameters, **{name: run_values[name] for name in RUN_PARAMETERS}}
    return {name: value for name, value in available.items() if re.search(rf"@{name}\b", sql)}


MAX_ROW_WARNINGS = 5


def _row_warnings(step: Step, column: str, result: QueryResult) -> tuple[str, ...]:
    """The distinct values of ``column`` as one warning: how many rows, the first few named (a day
    can have hundreds; the rows themselves keep the column)."""
    index = result.columns.index(column)
    values = [row[index] for row in result.rows if row[index] is not None]
    if not values:
        return ()
    distinct = sorted({str(value) for value in values})
    named = "; ".join(distinct[:MAX_ROW_WARNINGS])
    more = f"; and {len(distinct) - MAX_ROW_WARNINGS} more" if len(distinct) > MAX_ROW_WARNINGS else ""
    return (f"step {step.name}: {len(values)} row(s) with {column}: {named}{more}",)


def _size(count: int) -> str:
    return f"{count:,} bytes ({count / 1024**3:.2f} GiB)"


def _as_watermark(value: Any) -> str | None:
    """One text form for a watermark whichever warehouse produced it, so equal means equal."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)
