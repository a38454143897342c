"""Each step's options, parsed once per step: pipeline files are cached and immutable, so a
processor validates a step's ``config`` at load and reuses the result on every run."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.pipelines.config import Step

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class StepConfigs(Generic[ConfigT]):
    def __init__(self, model: type[ConfigT]) -> None:
        self._model = model
        # keyed by id(); the step is kept beside its parse, so a collected step's reused id never
        # returns another step's options
        self._parsed: dict[int, tuple[Step, ConfigT]] = {}

    def __call__(self, step: Step) -> ConfigT:
        cached = self._parsed.get(id(step))
        if cached is None or cached[0] is not step:
            cached = (step, self._model.model_validate(step.config))
            self._parsed[id(step)] = cached
        return cached[1]
