"""``gcp.bq_etl``: a warehouse query step, a gate step, or a day-partition load step.

A query step runs BigQuery SQL against the org's source (its billing export, read with the org's
own credentials) and keeps the already-aggregated result. A load step writes the previous step's
result into the org's dataset, replacing exactly one day partition, so re-running a day is
idempotent and leaves other days untouched. A gate step (``gate: source_changed``) reads the
source's watermark for the day and ends the run early when it equals the one the last COMPLETE
run of the same day saw, unless the run asks for ``force_refresh``.

A query step without a ``source`` reads the org's own dataset instead (``{org_dataset}`` in its SQL),
e.g. a mapping of the table an earlier step just loaded. A load step may keep a ``union_view``
over every table of the dataset sharing its ``union_prefix`` (the FOCUS tables and ``focus_costs``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.domain import identifiers
from shared.domain.integrations import GCP_SA
from shared.domain.runs import iso
from shared.errors import CloudActError, TerminalError
from shared.pipelines.config import PipelineConfig, Step
from shared.pipelines.context import StepContext, StepOutcome
from shared.ports import Column, QueryResult, TableSpec

SOURCES = {"integration.billing_export_table": (GCP_SA, "billing_export_table")}
"""Where a source table id may come from: the server-side integration record, never a request."""
SOURCE_PLACEHOLDER = "{source}"
ORG_DATASET_PLACEHOLDER = "{org_dataset}"
RUN_PARAMETERS = ("run_id",)
"""Values of the run itself a step's SQL may bind (``@run_id``), besides the pipeline's parameters."""
DEFAULT_MAX_BYTES_BILLED = 100 * 1024**3


class ColumnConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # mixed case: FOCUS columns are named as the specification spells them (BilledCost, x_RunId)
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    type: Literal["STRING", "INT64", "FLOAT64", "NUMERIC", "BOOL", "DATE", "TIMESTAMP"]
    mode: Literal["NULLABLE", "REQUIRED"] = "NULLABLE"


class BqEtlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # query step
    source: Literal["integration.billing_export_table"] | None = None
    sql: str | None = None
    max_bytes_billed: int = Field(default=DEFAULT_MAX_BYTES_BILLED, gt=0)
    watermark_column: str | None = None
    """An output column whose maximum is the source's watermark (recorded on the run)."""
    gate: Literal["source_changed"] | None = None
    # load step
    target_table: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    from_step: str | None = None
    partition_by: str | None = None
    partition_parameter: str = "date"
    write_disposition: Literal["WRITE_TRUNCATE"] = "WRITE_TRUNCATE"
    clustering: tuple[str, ...] = ()
    table_schema: tuple[ColumnConfig, ...] = Field(default=(), alias="schema")
    union_view: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    """A view over every table of the dataset whose name starts with ``union_prefix``, kept current."""
    union_prefix: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    error_prefix: str | None = Field(default=None, min_length=1, max_length=100)
    """Starts the run's error message when this step fails, so the failure says what broke."""

    @model_validator(mode="after")
    def one_kind(self) -> BqEtlConfig:
        if (self.sql is None) == (self.target_table is None):
            raise ValueError("a gcp.bq_etl step needs exactly one of `sql` (query) or `target_table` (load)")
        if self.gate and self.watermark_column:
            raise ValueError("a gate step reads its watermark from its only column: drop `watermark_column`")
        if self.target_table is not None:
            names = {column.name for column in self.table_schema}
            if not names:
                raise ValueError("a load step needs a `schema`")
            date_columns = {column.name for column in self.table_schema if column.type == "DATE"}
            if self.partition_by not in date_columns:
                raise ValueError("`partition_by` must name a DATE column of the schema")
            missing = [name for name in self.clustering if name not in names]
            if missing:
                raise ValueError(f"clustering columns not in schema: {', '.join(missing)}")
        if (self.union_view is None) != (self.union_prefix is None):
            raise ValueError("`union_view` and `union_prefix` go together")
        if self.union_prefix and not (self.target_table or "").startswith(self.union_prefix):
            raise ValueError("`target_table` must start with `union_prefix` to be part of the view")
        return self


class BigQueryEtl:
    def __init__(self) -> None:
        # parsed once per (immutable) step; the step is kept so its id cannot be reused
        self._configs: dict[int, tuple[Step, BqEtlConfig]] = {}

    def _config(self, step: Step) -> BqEtlConfig:
        cached = self._configs.get(id(step))
        if cached is None or cached[0] is not step:
            cached = (step, BqEtlConfig.model_validate(step.config))
            self._configs[id(step)] = cached
        return cached[1]

    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        try:
            config = self._config(step)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"step {step.name}: config{'.' + where if where else ''}: {first['msg']}") from None
        if config.sql is not None:
            sql_path = (pipeline.directory / config.sql).resolve()
            if pipeline.directory.resolve() not in sql_path.parents or not sql_path.is_file():
                raise ValueError(f"step {step.name}: sql file {config.sql} not found beside the pipeline file")
            if config.source and SOURCE_PLACEHOLDER not in sql_path.read_text():
                raise ValueError(f"step {step.name}: {config.sql} must select FROM `{SOURCE_PLACEHOLDER}`")
        else:
            earlier = [s.name for s in pipeline.steps[:index]]
            if not earlier or (config.from_step and config.from_step not in earlier):
                raise ValueError(f"step {step.name}: a load step needs an earlier query step")
            parameter = pipeline.parameter(config.partition_parameter)
            if parameter is None or parameter.type != "date":
                raise ValueError(f"step {step.name}: partition_parameter must name a date parameter")

    def run(self, step: Step, ctx: StepContext) -> StepOutcome:
        config = self._config(step)
        try:
            if config.sql is not None:
                return self._query(step, config, ctx)
            return self._load(step, config, ctx)
        except CloudActError as exc:
            if not config.error_prefix:
                raise
            # same class (so transient stays transient), the step's own words first
            exc.message = f"{config.error_prefix}: {exc.message}"
            exc.args = (exc.message,)
            raise

    def _query(self, step: Step, config: BqEtlConfig, ctx: StepContext) -> StepOutcome:
        previous_watermark = ctx.previous.source_watermark if ctx.previous else None
        if config.gate and (previous_watermark is None or ctx.run.force_refresh):
            return StepOutcome(rows=0)  # nothing to compare with, or told to reload: no need to look
        sql = (ctx.pipeline.directory / str(config.sql)).read_text()
        warehouse = ctx.warehouses.platform()
        if config.source:
            integration_type, field = SOURCES[config.source]
            secret = ctx.integrations[integration_type]
            source_table = identifiers.table_id(secret.metadata.get(field), field)
            sql = sql.replace(SOURCE_PLACEHOLDER, source_table)
            warehouse = ctx.warehouses.for_credentials(secret.credentials)
        else:
            # the org's dataset comes from its record (derived from a validated slug), never a request
            sql = sql.replace(ORG_DATASET_PLACEHOLDER, ctx.org.dataset)
        parameters = dict(ctx.parameters)
        run_values = {"run_id": ctx.run.pipeline_logging_id}
        # bound only when used: an unused named parameter is an error on DuckDB
        parameters.update({name: run_values[name] for name in RUN_PARAMETERS if f"@{name}" in sql})
        result = warehouse.query(
            sql, parameters, labels=ctx.labels(step.name), max_bytes_billed=config.max_bytes_billed
        )
        measured = StepOutcome(
            rows=len(result.rows), bytes_processed=result.bytes_processed, bytes_billed=result.bytes_billed
        )
        if config.gate:
            watermark = _as_watermark(result.rows[0][0] if result.rows else None)
            reason = None
            if ctx.previous and watermark is not None and watermark == previous_watermark:
                reason = f"source unchanged since run {ctx.previous.pipeline_logging_id}"
            return replace(measured, watermark=watermark, skip_reason=reason)
        watermark = None
        if config.watermark_column and config.watermark_column in result.columns:
            index = result.columns.index(config.watermark_column)
            watermark = _as_watermark(max((row[index] for row in result.rows if row[index] is not None), default=None))
        return replace(measured, output=result, watermark=watermark)

    def _load(self, step: Step, config: BqEtlConfig, ctx: StepContext) -> StepOutcome:
        source_step = config.from_step or next(reversed(ctx.outputs))
        result = ctx.outputs[source_step]
        if not isinstance(result, QueryResult):
            raise TerminalError(f"step {step.name}: step {source_step} produced no rows to load")
        day = ctx.parameters[config.partition_parameter]
        assert isinstance(day, date)
        partition_index = (
            result.columns.index(str(config.partition_by)) if config.partition_by in result.columns else -1
        )
        if partition_index < 0:
            raise TerminalError(f"step {step.name}: query result has no {config.partition_by} column")
        stray = sum(1 for row in result.rows if row[partition_index] != day)
        if stray:
            # loading them would write outside the partition being replaced
            raise TerminalError(f"step {step.name}: {stray} rows fall outside the {day.isoformat()} partition")
        table = TableSpec(
            dataset=ctx.org.dataset,
            name=str(config.target_table),
            columns=tuple(Column(c.name, c.type, c.mode) for c in config.table_schema),
            partition_field=config.partition_by,
            clustering=config.clustering,
        )
        warehouse = ctx.warehouses.platform()
        loaded = warehouse.replace_partition(table, day, result.columns, result.rows, labels=ctx.labels(step.name))
        if config.union_view and config.union_prefix:
            # on every run, not only when the table is new: a view another provider's first run
            # replaced concurrently is repaired by the next run of either
            warehouse.ensure_union_view(ctx.org.dataset, config.union_view, config.union_prefix)
        return StepOutcome(rows=loaded.rows, bytes_processed=loaded.bytes_processed)


def _as_watermark(value: Any) -> str | None:
    """One text form for a watermark whichever warehouse produced it, so equal means equal."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)
