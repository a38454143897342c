"""Request body -> typed pipeline parameters, by the types the pipeline file declares."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from shared.domain import identifiers
from shared.errors import InvalidRequest
from shared.pipelines.config import Parameter, PipelineConfig

RUN_OPTIONS = {"force_refresh"}
"""Body fields that steer the run rather than feed the steps."""
EARLIEST_DATE = date(2010, 1, 1)
"""No billing export holds a day before this (Google Cloud's began in the 2010s): an earlier
``date`` is a typo or a probe, refused rather than queued as a run that can only find nothing."""


def check_date(day: date, field: str, today: date) -> date:
    if day > today:
        raise InvalidRequest(f"Invalid {field}: {day.isoformat()} is in the future", field=field)
    if day < EARLIEST_DATE:
        raise InvalidRequest(
            f"Invalid {field}: {day.isoformat()} is before {EARLIEST_DATE.isoformat()}, the earliest day accepted",
            field=field,
        )
    return day


def _relative_date(keyword: str, today: date) -> date | None:
    return {"today": today, "yesterday": today - timedelta(days=1)}.get(keyword)


def _coerce(parameter: Parameter, value: Any, today: date) -> Any:
    field = parameter.name
    if parameter.type == "date":
        return check_date(identifiers.iso_date(value, field), field, today).isoformat()
    if parameter.type == "string":
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidRequest(f"Invalid {field}: expected a string of at most 256 characters", field=field)
        return value
    if parameter.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"Invalid {field}: expected an integer", field=field)
        if (parameter.minimum is not None and value < parameter.minimum) or (
            parameter.maximum is not None and value > parameter.maximum
        ):
            bounds = [f"at least {parameter.minimum}"] if parameter.minimum is not None else []
            bounds += [f"at most {parameter.maximum}"] if parameter.maximum is not None else []
            raise InvalidRequest(f"Invalid {field}: expected an integer {' and '.join(bounds)}", field=field)
        return value
    if not isinstance(value, bool):
        raise InvalidRequest(f"Invalid {field}: expected true or false", field=field)
    return value


def _default(parameter: Parameter, today: date) -> Any:
    if parameter.type == "date" and isinstance(parameter.default, str):
        relative = _relative_date(parameter.default, today)
        if relative is not None:
            return relative.isoformat()
    if isinstance(parameter.default, date):
        return parameter.default.isoformat()
    return parameter.default


def resolve(pipeline: PipelineConfig, body: dict[str, Any], today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (parameters as JSON values, run options). Unknown fields are refused by name."""
    known = {parameter.name for parameter in pipeline.parameters}
    unknown = sorted(set(body) - known - RUN_OPTIONS)
    if unknown:
        raise InvalidRequest(f"Unknown parameter: {unknown[0]}", field=unknown[0])
    values: dict[str, Any] = {}
    for parameter in pipeline.parameters:
        if parameter.name in body:
            values[parameter.name] = _coerce(parameter, body[parameter.name], today)
        elif parameter.required:
            raise InvalidRequest(f"Missing required parameter: {parameter.name}", field=parameter.name)
        else:
            values[parameter.name] = _default(parameter, today)
    options = {"force_refresh": body.get("force_refresh", False)}
    if not isinstance(options["force_refresh"], bool):
        raise InvalidRequest("Invalid force_refresh: expected true or false", field="force_refresh")
    return values, options


def typed(pipeline: PipelineConfig, values: dict[str, Any]) -> dict[str, Any]:
    """JSON parameter values -> Python values for query binding (dates become ``date``)."""
    result = dict(values)
    for parameter in pipeline.parameters:
        if parameter.type == "date" and isinstance(result.get(parameter.name), str):
            result[parameter.name] = date.fromisoformat(result[parameter.name])
    return result
