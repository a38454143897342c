"""Processors by dotted id. Modules are imported on first use, so a function pays only for the
processors its pipelines name.

A provider's processors are its own declaration (``shared.providers``): the id's first segment names
the provider. The engine's own, provider-neutral processors are listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from shared import providers

if TYPE_CHECKING:
    from shared.pipelines.config import PipelineConfig, Step
    from shared.pipelines.context import StepContext, StepOutcome

CORE_PROCESSORS: dict[str, str] = {
    "warehouse.load_day": "shared.pipelines.processors.load_day:LoadDay",
}


class Processor(Protocol):
    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        """Raises ValueError naming the problem; called when the pipeline file is loaded."""
        ...

    def run(self, step: Step, ctx: StepContext, outputs: Mapping[str, Any]) -> StepOutcome:
        """``outputs``: the earlier steps' outputs by step name (read only)."""
        ...


_instances: dict[str, Processor] = {}


def get(processor_id: str) -> Processor:
    if processor_id not in _instances:
        target = CORE_PROCESSORS.get(processor_id) or providers.processor_target(processor_id)
        if target is None:
            raise KeyError(processor_id)
        _instances[processor_id] = providers.resolve(target)()
    return _instances[processor_id]
