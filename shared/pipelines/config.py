"""Pipeline files: ``configs/{provider}/{domain}/{pipeline}.yml``, validated at load.

A malformed file fails with the file, the field and the reason, before any run is accepted.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.domain.identifiers import PATH_SEGMENT
from shared.domain.integrations import PROVIDERS
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


class Schedule(Strict):
    cron: str
    timezone: str = "UTC"
    lookback_days: int = Field(default=1, ge=1, le=31)

    @field_validator("cron")
    @classmethod
    def valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
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


class PipelineConfig(Strict):
    pipeline: PipelineInfo
    required_integrations: list[Literal["GCP_SA"]] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    schedule: Schedule | None = None
    steps: list[Step] = Field(min_length=1)
    rows_processed_from: str | None = None
    """The step whose rows are the run's ``rows_processed`` (default: the last step)."""
    directory: Path = Field(default=Path("."), exclude=True)
    """The folder of the YAML file: step files (SQL) are resolved inside it."""

    @model_validator(mode="after")
    def consistent(self) -> PipelineConfig:
        for label, names in (("parameter", [p.name for p in self.parameters]), ("step", [s.name for s in self.steps])):
            duplicates = {name for name in names if names.count(name) > 1}
            if duplicates:
                raise ValueError(f"duplicate {label} names: {', '.join(sorted(duplicates))}")
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


@lru_cache(maxsize=64)
def _load_cached(path: Path, mtime_ns: int) -> PipelineConfig:
    return parse(path)


def load(configs_dir: Path, ref: PipelineRef) -> PipelineConfig:
    if ref.provider not in PROVIDERS.values():
        raise NotFound(f"Pipeline {ref.path} not found")
    path = path_for(configs_dir, ref)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise NotFound(f"Pipeline {ref.path} not found") from None
    return _load_cached(path, mtime)


def discover(configs_dir: Path) -> list[PipelineRef]:
    """Every pipeline file under ``configs_dir``."""
    refs = []
    for path in sorted(configs_dir.glob("*/*/*.yml")):
        provider, domain = path.parent.parent.name, path.parent.name
        if all(re.fullmatch(PATH_SEGMENT, part) for part in (provider, domain, path.stem)):
            refs.append(PipelineRef(provider, domain, path.stem))
    return refs
