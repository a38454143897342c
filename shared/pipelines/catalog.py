"""The pipeline files a process serves: the only way code loads them.

Each file is parsed and validated once, and again only when it changes on disk (its modification
time), so a run pays no YAML parsing and an edited file is picked up without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

from shared.domain.runs import PipelineRef
from shared.errors import NotFound
from shared.pipelines import config as pipeline_config
from shared.pipelines.config import PipelineConfig


class PipelineCatalog:
    def __init__(self, configs_dir: Path) -> None:
        self.configs_dir = configs_dir
        self._parsed: dict[PipelineRef, tuple[int, PipelineConfig]] = {}
        self._lock = threading.Lock()

    def load(self, ref: PipelineRef) -> PipelineConfig:
        """The pipeline ``ref`` names, validated; NotFound if there is none, ConfigError if its file is broken."""
        try:
            mtime = pipeline_config.path_for(self.configs_dir, ref).stat().st_mtime_ns
        except FileNotFoundError:
            raise NotFound(f"Pipeline {ref.path} not found") from None
        with self._lock:
            cached = self._parsed.get(ref)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        config = pipeline_config.load(self.configs_dir, ref)
        with self._lock:
            self._parsed[ref] = (mtime, config)
        return config

    def find(self, provider: str, pipeline: str) -> PipelineRef:
        """The pipeline ``{provider}/{pipeline}`` (the source document's three-segment form)."""
        return pipeline_config.find(self.configs_dir, provider, pipeline)

    def refs(self) -> list[PipelineRef]:
        """Every pipeline file; ConfigError if two would share a pipeline id."""
        return pipeline_config.discover(self.configs_dir)

    def pipelines(self) -> list[tuple[PipelineRef, PipelineConfig]]:
        return [(ref, self.load(ref)) for ref in self.refs()]

    def scheduled(self) -> list[PipelineRef]:
        """The pipelines that declare a schedule."""
        return [ref for ref, config in self.pipelines() if config.schedule is not None]
