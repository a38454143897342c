from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.domain.runs import PipelineRef
from shared.errors import ConfigError, NotFound
from shared.pipelines import config
from shared.settings import PROJECT_ROOT

BILLING = PROJECT_ROOT / "configs" / "gcp" / "cost" / "billing.yml"


def test_billing_pipeline_loads() -> None:
    pipeline = config.load(PROJECT_ROOT / "configs", PipelineRef("gcp", "cost", "billing"))
    assert pipeline.pipeline.name == "gcp_billing"
    assert pipeline.required_integrations == ["GCP_SA"]
    assert [step.name for step in pipeline.steps] == [
        "check_source_changed",
        "extract_transform",
        "load",
        "focus_transform",
        "focus_load",
    ]
    assert pipeline.schedule is not None and pipeline.schedule.lookback_days == 3
    date_parameter = pipeline.parameter("date")
    assert date_parameter is not None and date_parameter.default == "yesterday"


def test_every_pipeline_under_configs_is_valid() -> None:
    refs = config.discover(PROJECT_ROOT / "configs")
    assert PipelineRef("gcp", "cost", "billing") in refs
    for ref in refs:
        config.load(PROJECT_ROOT / "configs", ref)


def _write_variant(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(BILLING.read_text())
    mutate(document)
    target = tmp_path / "gcp" / "cost"
    target.mkdir(parents=True)
    (target / "sql").mkdir()
    for sql in (BILLING.parent / "sql").glob("*.sql"):
        (target / "sql" / sql.name).write_text(sql.read_text())
    path = target / "billing.yml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda d: d.pop("steps"), "steps", "Field required"),
        (lambda d: d["parameters"][0].update(type="datetime"), "parameters.0.type", "Input should be"),
        (lambda d: d["steps"][1].update(processor="gcp.nope"), "gcp.nope", "unknown processor"),
        (lambda d: d["steps"][1]["config"].update(sql="sql/missing.sql"), "extract_transform", "not found"),
        (lambda d: d["steps"][2]["config"].pop("schema"), "load", "needs a `schema`"),
        (lambda d: d["steps"][2]["config"].update(partition_by="cost"), "load", "partition_by"),
        (lambda d: d["steps"][1]["config"].update(sql="../../../etc/passwd"), "extract_transform", "not found"),
        (lambda d: d["schedule"].update(cron="every day"), "schedule.cron", "5 fields"),
        (lambda d: d.update(surprise=1), "surprise", "Extra inputs are not permitted"),
        (lambda d: d["steps"].append(dict(d["steps"][1])), "duplicate step names", "extract_transform"),
    ],
)
def test_malformed_file_names_file_field_and_reason(tmp_path: Path, mutate, field: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = _write_variant(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        config.parse(path)
    message = str(error.value)
    assert str(path) in message and field in message and reason in message, message


def test_unknown_pipeline_and_hostile_path_segments_are_not_found() -> None:
    for ref in [
        PipelineRef("gcp", "cost", "nope"),
        PipelineRef("gcp", "..", "billing"),
        PipelineRef("aws", "cost", "billing"),
    ]:
        with pytest.raises(NotFound):
            config.load(PROJECT_ROOT / "configs", ref)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_billing_run_loads_the_usage_table_exactly_as_the_token_pipeline_does(provider: str) -> None:
    """Either pipeline may rewrite a day of `{provider}_usage_daily`: the same source, table, schema,
    partition and clustering, so the day holds the same rows whichever ran last."""
    configs = PROJECT_ROOT / "configs"
    billing = config.load(configs, PipelineRef(provider, "cost", "billing"))
    tokens = config.load(configs, PipelineRef(provider, "usage", "tokens"))
    steps = {step.name: step for step in billing.steps}
    fetch, load = tokens.steps
    assert (steps["fetch_usage"].processor, steps["fetch_usage"].config) == (fetch.processor, fetch.config)
    assert steps["load_usage"].processor == load.processor
    assert {**steps["load_usage"].config, "from_step": None} == {**load.config, "from_step": None}
    # both reports are gates, so the run's watermark covers both (shared/pipelines/runner.py)
    assert [step.name for step in billing.steps if step.gate] == ["fetch_costs", "fetch_usage"]


def test_a_run_s_watermark_is_every_gate_s() -> None:
    from shared.pipelines.runner import combined_watermark

    assert combined_watermark(["sha256:a"]) == "sha256:a"  # one source: its own watermark, as before
    assert combined_watermark(["sha256:a", "sha256:b"]) == "sha256:a + sha256:b"
    assert combined_watermark(["sha256:a", "sha256:b"]) != combined_watermark(["sha256:a", "sha256:c"])
    assert combined_watermark(["sha256:a", None]) is None  # a gate that could not tell: nothing to compare
