"""``warehouse.load_day``: writes an earlier step's rows into the org's dataset, replacing exactly
one day partition, so re-running a day is idempotent and leaves other days untouched.

Any provider's pipeline ends with it: the rows may come from a warehouse query or from a vendor's
API. Rows whose day is not the run's are refused rather than written outside the partition.
With ``union_view`` and ``union_prefix``, the warehouse keeps a view over every table of the
dataset whose name has the prefix (each provider's FOCUS table and the org's ``focus_costs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import TerminalError
from shared.pipelines.config import PipelineConfig, Step
from shared.pipelines.context import StepContext, StepOutcome
from shared.pipelines.processors.step_configs import StepConfigs
from shared.ports import Column, QueryResult, TableSpec


class ColumnConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # mixed case: FOCUS columns are named as the specification spells them (BilledCost, x_RunId)
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    type: Literal["STRING", "INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "DATE", "TIMESTAMP"]
    mode: Literal["NULLABLE", "REQUIRED"] = "NULLABLE"


class LoadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    target_table: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    from_step: str | None = None
    partition_by: str
    partition_parameter: str = "date"
    write_disposition: Literal["WRITE_TRUNCATE"] = "WRITE_TRUNCATE"
    clustering: tuple[str, ...] = ()
    table_schema: tuple[ColumnConfig, ...] = Field(alias="schema", min_length=1)
    union_view: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")
    """A view over every table of the dataset whose name starts with ``union_prefix``, kept current."""
    union_prefix: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,127}$")

    @model_validator(mode="after")
    def consistent(self) -> LoadConfig:
        if (self.union_view is None) != (self.union_prefix is None):
            raise ValueError("`union_view` and `union_prefix` go together")
        if self.union_prefix and not self.target_table.startswith(self.union_prefix):
            raise ValueError("`target_table` must start with `union_prefix` to be part of the view")
        names = {column.name for column in self.table_schema}
        date_columns = {column.name for column in self.table_schema if column.type == "DATE"}
        if self.partition_by not in date_columns:
            raise ValueError("`partition_by` must name a DATE column of the schema")
        missing = [name for name in self.clustering if name not in names]
        if missing:
            raise ValueError(f"clustering columns not in schema: {', '.join(missing)}")
        return self


def describe(step: Step, error: ValidationError) -> ValueError:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return ValueError(f"step {step.name}: config{'.' + where if where else ''}: {first['msg']}")


def check_placement(step: Step, config: LoadConfig, pipeline: PipelineConfig, index: int) -> None:
    earlier = [s.name for s in pipeline.steps[:index]]
    if not earlier or (config.from_step and config.from_step not in earlier):
        raise ValueError(f"step {step.name}: a load step needs an earlier step whose rows it loads")
    parameter = pipeline.parameter(config.partition_parameter)
    if parameter is None or parameter.type != "date":
        raise ValueError(f"step {step.name}: partition_parameter must name a date parameter")


def load(step: Step, config: LoadConfig, ctx: StepContext, outputs: Mapping[str, Any]) -> StepOutcome:
    source_step = config.from_step or next(reversed(list(outputs)), "")
    result = outputs.get(source_step)
    if not isinstance(result, QueryResult):
        raise TerminalError(f"step {step.name}: step {source_step} produced no rows to load")
    day = ctx.parameters[config.partition_parameter]
    assert isinstance(day, date)
    if config.partition_by not in result.columns:
        raise TerminalError(f"step {step.name}: step {source_step} has no {config.partition_by} column")
    partition_index = result.columns.index(config.partition_by)
    stray = sum(1 for row in result.rows if row[partition_index] != day)
    if stray:
        # loading them would write outside the partition being replaced
        raise TerminalError(f"step {step.name}: {stray} rows fall outside the {day.isoformat()} partition")
    table = TableSpec(
        dataset=ctx.org.dataset,
        name=config.target_table,
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


class LoadDay:
    def __init__(self) -> None:
        self._config = StepConfigs(LoadConfig)

    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        try:
            config = self._config(step)
        except ValidationError as exc:
            raise describe(step, exc) from None
        check_placement(step, config, pipeline, index)

    def run(self, step: Step, ctx: StepContext, outputs: Mapping[str, Any]) -> StepOutcome:
        return load(step, self._config(step), ctx, outputs)
