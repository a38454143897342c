"""Runs a pipeline's steps in order, timing and recording each, and decides when a run can stop
early: the one place the gate policy lives.

The gate policy: a step marked ``gate: source_changed`` reports the source's watermark for the
run's day. If the last COMPLETE run of the same day saw the same watermark and the run does not ask
for ``force_refresh``, nothing new can come out of the remaining steps: they are recorded SKIPPED and
the run completes with a skip reason.

A pipeline reading several sources marks each one's step a gate. The run's watermark is then all of
theirs together (``combined_watermark``), decided after the last gate: a day is skipped only when
every source is unchanged, so a restated usage report with unchanged costs is re-run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shared.domain.runs import StepResult
from shared.errors import CloudActError
from shared.logs import get_logger
from shared.pipelines import registry
from shared.pipelines.context import StepContext

log = get_logger("runner")


@dataclass(frozen=True)
class RunResult:
    steps: tuple[StepResult, ...]
    """Every step, in order: COMPLETE, FAILED (the one that failed) or SKIPPED."""
    watermark: str | None = None
    """The source's watermark as the run saw it (the last one a step reported)."""
    skip_reason: str | None = None
    warnings: tuple[str, ...] = ()
    """What the steps said the user should know although nothing failed."""
    rows: int = 0
    """Rows written by the pipeline's main load (``rows_processed_from``, else the last step); 0 for
    a run that stopped early or failed."""
    failure: CloudActError | None = None
    """The error that ended the run, if one did (the steps before it are still in ``steps``)."""


def baseline_watermark(ctx: StepContext) -> str | None:
    """What a gate compares with: the last COMPLETE run's watermark, unless told to reload."""
    if ctx.run.force_refresh or ctx.previous is None:
        return None
    return ctx.previous.source_watermark


def combined_watermark(marks: list[str | None]) -> str | None:
    """The watermark of a run whose gates reported ``marks``, in step order: one gate's own value
    (so a one-source pipeline records what its source says), several joined with `` + ``. Unknown
    (None) when any gate could not tell: nothing to compare, so nothing is skipped on it."""
    if any(mark is None for mark in marks):
        return None
    return " + ".join(mark for mark in marks if mark is not None) or None


def run_pipeline(ctx: StepContext) -> RunResult:
    """Runs the steps. A ``CloudActError`` of a step ends the run and comes back as ``failure``;
    anything else (a bug, a lost claim from the heartbeat) propagates."""
    baseline = baseline_watermark(ctx)
    outputs: dict[str, Any] = {}
    results: list[StepResult] = []
    watermark: str | None = None
    skip_reason: str | None = None
    warnings: list[str] = []
    gates_left = sum(1 for step in ctx.pipeline.steps if step.gate)
    gate_marks: list[str | None] = []
    for step in ctx.pipeline.steps:
        if skip_reason:
            results.append(StepResult(name=step.name, status="SKIPPED"))
            continue
        ctx.heartbeat()
        processor = registry.get(step.processor)
        context = {
            "run_id": ctx.run.run_id,
            "org_slug": ctx.org.slug,
            "pipeline": ctx.run.pipeline_id,
            "step": step.name,
        }
        log.info("step started", extra=context)
        started = time.perf_counter()
        try:
            outcome = processor.run(step, ctx, outputs)
        except CloudActError as error:
            if step.error_prefix:
                # same class (so transient stays transient), the step's own words first
                error.message = f"{step.error_prefix}: {error.message}"
                error.args = (error.message,)
            elapsed = int((time.perf_counter() - started) * 1000)
            results.append(StepResult(name=step.name, status="FAILED", duration_ms=elapsed))
            log.warning("step failed", extra={**context, "duration_ms": elapsed})
            return RunResult(steps=tuple(results), watermark=watermark, warnings=tuple(warnings), failure=error)
        elapsed = int((time.perf_counter() - started) * 1000)
        outputs[step.name] = outcome.output
        warnings.extend(outcome.warnings)
        if step.gate:
            gate_marks.append(outcome.watermark)
            gates_left -= 1
            if gates_left == 0:  # every source has been looked at: the run's watermark is known
                combined = combined_watermark(gate_marks)
                watermark = combined or watermark
                if baseline is not None and combined == baseline:
                    assert ctx.previous is not None
                    skip_reason = f"source unchanged since run {ctx.previous.run_id}"
        else:
            watermark = outcome.watermark or watermark
        results.append(
            StepResult(
                name=step.name,
                status="COMPLETE",
                rows=outcome.rows,
                bytes_processed=outcome.bytes_processed,
                bytes_billed=outcome.bytes_billed,
                duration_ms=elapsed,
            )
        )
        log.info("step complete", extra={**context, "duration_ms": elapsed, "rows": outcome.rows})
    # the pipeline's main load (its last step unless it names one)
    counted = [r for r in results if r.name == ctx.pipeline.rows_processed_from] or results[-1:]
    rows = 0 if skip_reason or not counted else counted[0].rows
    return RunResult(
        steps=tuple(results), watermark=watermark, skip_reason=skip_reason, warnings=tuple(warnings), rows=rows
    )
