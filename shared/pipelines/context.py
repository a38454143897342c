"""What a processor is given to run one step, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.domain.integrations import IntegrationSecret
from shared.domain.orgs import Organization
from shared.domain.runs import Run
from shared.pipelines.config import PipelineConfig
from shared.ports import JobLabels, WarehouseFactory
from shared.settings import Settings


@dataclass(frozen=True)
class StepContext:
    """The run's inputs, the same for every step (nothing here changes while the steps run)."""

    run: Run
    org: Organization
    pipeline: PipelineConfig
    parameters: dict[str, Any]
    """Typed values (``date`` for dates), ready to bind."""
    integrations: dict[str, IntegrationSecret] = field(repr=False)
    warehouses: WarehouseFactory
    settings: Settings
    """The process's settings (a vendor client's timeouts and retry budget)."""
    heartbeat: Callable[[], None] = lambda: None
    """Called before each step: extends the worker's lease, or raises if the claim was lost."""
    previous: Run | None = None
    """The last COMPLETE run of the same org, pipeline and parameters, if any."""

    def labels(self, step: str) -> JobLabels:
        return JobLabels(org_slug=self.org.slug, run_id=self.run.run_id, step=step)


@dataclass(frozen=True)
class StepOutcome:
    rows: int
    bytes_processed: int = 0
    bytes_billed: int = 0
    output: Any = None
    watermark: str | None = None
    """The source's watermark as this step saw it (recorded on the run; a gate step's decides
    whether the run goes on)."""
    warnings: tuple[str, ...] = ()
    """Recorded on the run: what the user should know although nothing failed."""
