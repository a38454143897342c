"""Pipeline files: ``configs/{provider}/{domain}/{pipeline}.yml``, validated at load.

A malformed file fails with the file, the field and the reason, before any run is accepted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared import providers
from shared.domain.identifiers import PATH_SEGMENT
from shared.domain.runs import PipelineRef
from shared.errors import ConfigError, NotFound
from shared.pipelines import registry

NAME = r"^[a-z][a-z0-9_]{0,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineInfo(Strict):
    name: str = Field(pattern=NAME)
    description: str
    version: str


class Parameter(Strict):
    name: str = Field(pattern=NAME)
    type: Literal["date", "string", "integer", "boolean"]
    required: bool = False
    default: Any = None
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None
    """Bounds of an integer parameter (inclusive), checked on every request."""

    @model_validator(mode="after")
    def bounds_fit(self) -> Parameter:
        if (self.minimum is not None or self.maximum is not None) and self.type != "integer":
            raise ValueError("minimum and maximum apply to integer parameters only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        default = self.default if self.type == "integer" and isinstance(self.default, int) else None
        low, high = self.minimum, self.maximum
        if default is not None and ((low is not None and default < low) or (high is not None and default > high)):
            raise ValueError("default is outside minimum..maximum")
        return self


INVOICE_CLOSE_WINDOW_PARAMETER = "source_window_days"
"""The integer parameter an invoice-close run widens: days after the usage day read from the source."""


class Schedule(Strict):
    cron: str
    timezone: str = "UTC"
    lookback_days: int = Field(default=1, ge=1, le=31)
    invoice_close_cron: str | None = None
    """When the invoice-close run fires: once a month, after the invoice month closes, it re-runs
    every day of the month before with a source window reaching the firing day."""

    @field_validator("cron", "invoice_close_cron")
    @classmethod
    def valid_cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError("cron must be a valid expression of 5 fields: minute hour day-of-month month day-of-week")
        return value

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Step(Strict):
    name: str = Field(pattern=NAME)
    processor: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    config: dict[str, Any] = Field(default_factory=dict)
    gate: Literal["source_changed"] | None = None
    """The step reports the source's watermark for the run's day; the engine ends the run early
    (the remaining steps SKIPPED) when it equals the last COMPLETE run's, unless forced."""
    error_prefix: str | None = Field(default=None, min_length=1, max_length=100)
    """Starts the run's error message when this step fails, so the failure says what broke."""


class PipelineConfig(Strict):
    pipeline: PipelineInfo
    required_integrations: list[str] = Field(default_factory=list)
    """Integration kinds, as the providers declare them (``shared.providers``)."""
    parameters: list[Parameter] = Field(default_factory=list)
    schedule: Schedule | None = None
    source_history_days: int | None = Field(default=None, ge=1)
    """How many days back the source can answer (a vendor API's retention): a backfill reaching
    further is refused. None: as far as the source has data."""
    steps: list[Step] = Field(min_length=1)
    rows_processed_from: str | None = None
    """The step whose rows are the run's ``rows_processed`` (default: the last step)."""
    directory: Path = Field(default=Path("."), exclude=True)
    """The folder of the YAML file: step files (SQL) are resolved inside it."""

    @field_validator("required_integrations")
    @classmethod
    def declared_kinds(cls, value: list[str]) -> list[str]:
        known = providers.integration_kinds()
        unknown = [kind for kind in value if kind not in known]
        if unknown:
            raise ValueError(f"unknown integration kind {unknown[0]} (known: {', '.join(sorted(known))})")
        return value

    @model_validator(mode="after")
    def consistent(self) -> PipelineConfig:
        for label, names in (("parameter", [p.name for p in self.parameters]), ("step", [s.name for s in self.steps])):
            duplicates = {name for name in names if names.count(name) > 1}
            if duplicates:
                raise ValueError(f"duplicate {label} names: {', '.join(sorted(duplicates))}")
        if self.schedule and self.schedule.invoice_close_cron:
            window = self.parameter(INVOICE_CLOSE_WINDOW_PARAMETER)
            if window is None or window.type != "integer":
                raise ValueError(
                    f"schedule.invoice_close_cron needs an integer parameter {INVOICE_CLOSE_WINDOW_PARAMETER} to widen"
                )
        if self.rows_processed_from is not None and self.rows_processed_from not in [s.name for s in self.steps]:
            raise ValueError(f"rows_processed_from: no step named {self.rows_processed_from}")
        for index, step in enumerate(self.steps):
            processor = registry.get(step.processor)  # raises KeyError for unknown ids
            processor.validate_config(step, self, index)
        return self

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


def _describe(error: ValidationError, document: dict[str, Any]) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{location}: {first['msg']}"


def parse(path: Path) -> PipelineConfig:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return PipelineConfig.model_validate({**document, "directory": path.parent})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, document)}") from None
    except KeyError as exc:
        raise ConfigError(f"{path}: unknown processor {exc.args[0]}") from None


def path_for(configs_dir: Path, ref: PipelineRef) -> Path:
    for segment in (ref.provider, ref.domain, ref.pipeline):
        if not PATH_SEGMENT.fullmatch(segment):
            raise NotFound(f"Pipeline {ref.path} not found")
    return configs_dir / ref.provider / ref.domain / f"{ref.pipeline}.yml"


def load(configs_dir: Path, ref: PipelineRef) -> PipelineConfig:
    """Parses and validates one pipeline file (every time: code loads pipelines through
    ``shared.pipelines.catalog``, which parses each file once)."""
    if ref.provider not in providers.names():
        raise NotFound(f"Pipeline {ref.path} not found")
    path = path_for(configs_dir, ref)
    if not path.is_file():
        raise NotFound(f"Pipeline {ref.path} not found")
    try:
        return parse(path)
    except ConfigError as exc:
        # the caller sees which file is broken, never where the server keeps it
        raise ConfigError(exc.message.replace(str(configs_dir), "configs").replace(str(path), ref.path)) from None


def discover(configs_dir: Path) -> list[PipelineRef]:
    """Every pipeline file under ``configs_dir``; ConfigError if two would share a pipeline id."""
    return sorted(catalog(configs_dir).values(), key=lambda ref: ref.path)


def catalog(configs_dir: Path) -> dict[tuple[str, str], PipelineRef]:
    """``(provider, pipeline)`` -> its file's ref. A pipeline id is ``{org}-{provider}-{pipeline}``
    (the domain is not part of it), so two files that differ only in their domain folder would give
    two pipelines one id: refused, naming both files."""
    found: dict[tuple[str, str], PipelineRef] = {}
    for path in sorted(configs_dir.glob("*/*/*.yml")):
        provider, domain = path.parent.parent.name, path.parent.name
        if not all(re.fullmatch(PATH_SEGMENT, part) for part in (provider, domain, path.stem)):
            continue
        ref = PipelineRef(provider, domain, path.stem)
        earlier = found.setdefault((provider, path.stem), ref)
        if earlier != ref:
            raise ConfigError(
                f"{path_for(configs_dir, earlier)} and {path}: both would be pipeline id"
                f" {{org}}-{provider}-{path.stem}; rename one of them"
            )
    return found


def find(configs_dir: Path, provider: str, pipeline: str) -> PipelineRef:
    """The pipeline ``{provider}/{pipeline}`` (the source document's three-segment form)."""
    for segment in (provider, pipeline):
        if not PATH_SEGMENT.fullmatch(segment):
            raise NotFound(f"Pipeline {provider}/{pipeline} not found")
    ref = catalog(configs_dir).get((provider, pipeline))
    if ref is None or provider not in providers.names():
        raise NotFound(f"Pipeline {provider}/{pipeline} not found")
    return ref
