"""Synthetic billing exports for the benchmarks, generated once and cached under ``bench/.cache/``.

Generating a 10M-row export takes tens of seconds, so each export is kept as its own DuckDB file,
keyed by everything that decides its content: (rows, days, seed) and the fixed last usage day. A
benchmark links the cached file into a fresh data directory instead of regenerating it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from shared.local_stack.billing_export import DEFAULT_TABLE, ExportSpec

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE_DIR = BENCH_DIR / ".cache"
EXPORT_PROJECT, EXPORT_DATASET, EXPORT_TABLE = DEFAULT_TABLE.split(".")
# Fixed, not "yesterday": the cache must stay valid across days, and the run's day must stay the same.
END_DATE = date(2026, 1, 30)
DAYS = 30
SEED = 7
# Bumped whenever the generator's output changes, so a cache from an older layout is never reused
# (2: the export carries its partition time, which the pipeline's partition filter reads).
LAYOUT = 2


@dataclass(frozen=True)
class CachedExport:
    spec: ExportSpec
    path: Path
    """The DuckDB file holding ``acme-billing-export`` (catalog) -> ``billing_export.<table>``."""
    generated_s: float | None
    """Seconds spent generating it in this invocation; None when it came from the cache."""

    @property
    def day(self) -> date:
        """The usage day every benchmark runs: mid-export, so a scan must skip data on both sides."""
        return self.spec.start_date + timedelta(days=self.spec.days // 2)

    @property
    def qualified_table(self) -> str:
        return f'"{EXPORT_PROJECT}"."{EXPORT_DATASET}"."{EXPORT_TABLE}"'


def spec_for(rows: int, days: int = DAYS, seed: int = SEED) -> ExportSpec:
    return ExportSpec(table_id=DEFAULT_TABLE, rows=rows, days=days, end_date=END_DATE, seed=seed)


def cache_path(spec: ExportSpec, cache_dir: Path) -> Path:
    key = f"rows{spec.rows}_days{spec.days}_seed{spec.seed}_end{spec.end_date.isoformat()}_layout{LAYOUT}"
    return cache_dir / "exports" / key / f"{EXPORT_PROJECT}.duckdb"


def ensure_export(rows: int, cache_dir: Path = DEFAULT_CACHE_DIR, days: int = DAYS, seed: int = SEED) -> CachedExport:
    """The cached export for (rows, days, seed), generating it first if missing."""
    from shared.adapters.local.warehouse import DuckDBWarehouse
    from shared.local_stack import billing_export

    spec = spec_for(rows, days, seed)
    final = cache_path(spec, cache_dir)
    if final.exists():
        return CachedExport(spec, final, None)
    # generate beside the final place and rename: an interrupted run never leaves a half-written cache
    staging = final.parent.with_name(final.parent.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    warehouse = DuckDBWarehouse(staging, "bench-generator")
    try:
        billing_export.generate(warehouse, spec)
    finally:
        warehouse.close()
    elapsed = time.perf_counter() - started
    (staging / "bench-generator.duckdb").unlink(missing_ok=True)
    staging.replace(final.parent)
    return CachedExport(spec, final, elapsed)


def link_into(export: CachedExport, warehouse_dir: Path) -> Path:
    """Makes the cached export visible to a warehouse in ``warehouse_dir`` under its project name.

    A symlink, not a copy: nothing in the benchmarks writes to the export, and a 10M-row file would
    otherwise be copied for every data directory.
    """
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    target = warehouse_dir / f"{EXPORT_PROJECT}.duckdb"
    target.unlink(missing_ok=True)
    target.symlink_to(export.path)
    return target
