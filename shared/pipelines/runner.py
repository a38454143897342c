"""Runs a pipeline's steps in order, timing and recording each."""

from __future__ import annotations

import time

from shared.domain.runs import StepResult
from shared.errors import CloudActError
from shared.logs import get_logger
from shared.pipelines import registry
from shared.pipelines.context import StepContext

log = get_logger("runner")


def run_steps(ctx: StepContext) -> list[StepResult]:
    """Appends each step's result to ``ctx.step_results`` as it ends (a failed step too), so a
    caller still has the partial story when an error propagates. A gate step that finds nothing
    to do ends the run early; the steps after it are recorded SKIPPED."""
    for step in ctx.pipeline.steps:
        if ctx.skip_reason:
            ctx.step_results.append(StepResult(name=step.name, status="SKIPPED"))
            continue
        ctx.heartbeat()
        processor = registry.get(step.processor)
        context = {
            "run_id": ctx.run.pipeline_logging_id,
            "org_slug": ctx.org.slug,
            "pipeline": ctx.run.pipeline_id,
            "step": step.name,
        }
        log.info("step started", extra=context)
        started = time.perf_counter()
        try:
            outcome = processor.run(step, ctx)
        except CloudActError:
            elapsed = int((time.perf_counter() - started) * 1000)
            ctx.step_results.append(StepResult(name=step.name, status="FAILED", duration_ms=elapsed))
            log.warning("step failed", extra={**context, "duration_ms": elapsed})
            raise
        elapsed = int((time.perf_counter() - started) * 1000)
        ctx.outputs[step.name] = outcome.output
        ctx.source_watermark = outcome.watermark or ctx.source_watermark
        ctx.skip_reason = outcome.skip_reason
        ctx.step_results.append(
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
    return ctx.step_results
