"""What a processor is given to run one step, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.domain.orgs import Organization
from shared.domain.runs import Run, StepResult
from shared.pipelines.config import PipelineConfig
from shared.ports import JobLabels, WarehouseFactory


@dataclass(frozen=True)
class IntegrationSecret:
    metadata: dict[str, Any]
    credentials: dict[str, Any] = field(repr=False)


@dataclass
class StepContext:
    run: Run
    org: Organization
    pipeline: PipelineConfig
    parameters: dict[str, Any]
    """Typed values (``date`` for dates), ready to bind."""
    integrations: dict[str, IntegrationSecret] = field(repr=False)
    warehouses: WarehouseFactory
    outputs: dict[str, Any] = field(default_factory=dict)
    """Each step's output by step name, for the steps after it."""
    step_results: list[StepResult] = field(default_factory=list)
    heartbeat: Callable[[], None] = lambda: None
    """Called before each step: extends the worker's lease, or raises if the claim was lost."""
    previous: Run | None = None
    """The last COMPLETE run of the same org, pipeline and parameters, if any."""
    source_watermark: str | None = None
    skip_reason: str | None = None
    bytes_checked: bool = False
    """Whether the run's queries were dry-run against their byte budgets (done once, before the first)."""

    def labels(self, step: str) -> JobLabels:
        return JobLabels(org_slug=self.org.slug, run_id=self.run.pipeline_logging_id, step=step)


@dataclass(frozen=True)
class StepOutcome:
    rows: int
    bytes_processed: int = 0
    bytes_billed: int = 0
    output: Any = None
    watermark: str | None = None
    """The source's watermark as this step saw it (recorded on the run)."""
    skip_reason: str | None = None
    """Set by a gate step: the remaining steps are not needed, and why."""
