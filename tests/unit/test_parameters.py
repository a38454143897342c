from __future__ import annotations

from datetime import date

import pytest

from shared.domain.runs import PipelineRef
from shared.errors import InvalidRequest
from shared.pipelines import config, parameters
from shared.settings import PROJECT_ROOT

TODAY = date(2025, 11, 26)
PIPELINE = config.load(PROJECT_ROOT / "configs", PipelineRef("gcp", "cost", "billing"))


def test_date_defaults_to_yesterday() -> None:
    values, options = parameters.resolve(PIPELINE, {}, TODAY)
    assert values == {"date": "2025-11-25", "source_window_days": 5}
    assert options == {"force_refresh": False}


def test_explicit_date_and_force_refresh() -> None:
    values, options = parameters.resolve(PIPELINE, {"date": "2025-11-01", "force_refresh": True}, TODAY)
    assert values == {"date": "2025-11-01", "source_window_days": 5} and options["force_refresh"] is True
    assert parameters.typed(PIPELINE, values) == {"date": date(2025, 11, 1), "source_window_days": 5}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2025-13-01"}, "date"),
        ({"date": "25-11-01"}, "date"),
        ({"date": 20251101}, "date"),
        ({"date": "2025-11-01'; DROP TABLE x; --"}, "date"),
        ({"date": "2025-11-27"}, "date"),  # the future
        ({"force_refresh": "yes"}, "force_refresh"),
        ({"dataset": "other_org"}, "dataset"),
        ({"source_window_days": -1}, "source_window_days"),  # below the pipeline's minimum
        ({"source_window_days": 63}, "source_window_days"),  # above its maximum
        ({"source_window_days": "5"}, "source_window_days"),
    ],
)
def test_bad_values_are_refused_naming_the_field(body: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest) as error:
        parameters.resolve(PIPELINE, body, TODAY)
    assert error.value.details["field"] == field
    assert field in error.value.message
