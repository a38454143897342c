"""Processors by dotted id. Modules are imported on first use, so a function pays only for the
processors its pipelines name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.pipelines.config import PipelineConfig, Step
    from shared.pipelines.context import StepContext, StepOutcome

PROCESSORS: dict[str, str] = {
    "gcp.bq_etl": "shared.pipelines.processors.gcp_bq_etl:BigQueryEtl",
}


class Processor(Protocol):
    def validate_config(self, step: Step, pipeline: PipelineConfig, index: int) -> None:
        """Raises ValueError naming the problem; called when the pipeline file is loaded."""
        ...

    def run(self, step: Step, ctx: StepContext) -> StepOutcome: ...


_instances: dict[str, Processor] = {}


def get(processor_id: str) -> Processor:
    if processor_id not in _instances:
        if processor_id not in PROCESSORS:
            raise KeyError(processor_id)
        module_name, _, class_name = PROCESSORS[processor_id].partition(":")
        _instances[processor_id] = getattr(importlib.import_module(module_name), class_name)()
    return _instances[processor_id]
