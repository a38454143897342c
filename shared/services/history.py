"""``organizations.org_meta_pipeline_runs``: every finished run, for analytics in the warehouse.

The seed's columns come first (so its "Query Recent Runs" SQL works as written), then ours.
"""

from __future__ import annotations

import json

from shared.domain.runs import Run
from shared.ports import Column, TableSpec, Warehouse

RUN_HISTORY = TableSpec(
    dataset="organizations",
    name="org_meta_pipeline_runs",
    columns=(
        Column("run_id", "STRING", "REQUIRED"),
        Column("org_slug", "STRING", "REQUIRED"),
        Column("pipeline_id", "STRING", "REQUIRED"),
        Column("status", "STRING", "REQUIRED"),
        Column("started_at", "TIMESTAMP"),
        Column("completed_at", "TIMESTAMP"),
        Column("rows_processed", "INT64"),
        Column("error_message", "STRING"),
        Column("parameters", "JSON"),
        Column("pipeline", "STRING"),
        Column("trigger", "STRING"),
        Column("duration_ms", "INT64"),
        Column("bytes_processed", "INT64"),
        Column("attempt", "INT64"),
        Column("steps", "JSON"),
        Column("warnings", "JSON"),
    ),
    partition_field="started_at",
    clustering=("org_slug", "pipeline_id"),
    description="One row per finished pipeline run",
)


def ensure(warehouse: Warehouse) -> None:
    warehouse.ensure_dataset(RUN_HISTORY.dataset)
    warehouse.ensure_table(RUN_HISTORY)


def record(warehouse: Warehouse, run: Run) -> None:
    """Idempotent by run id: a retried append replaces, never duplicates."""
    body = run.public()
    warehouse.upsert_rows(
        RUN_HISTORY,
        "run_id",
        [
            {
                "run_id": run.run_id,
                "org_slug": run.org_slug,
                "pipeline_id": run.pipeline_id,
                "status": str(run.status),
                "started_at": run.start_time,
                "completed_at": run.end_time,
                "rows_processed": run.rows_processed,
                "error_message": run.error_message,
                "parameters": json.dumps(run.parameters, sort_keys=True),
                "pipeline": run.ref.path,
                "trigger": run.trigger,
                "duration_ms": run.duration_ms,
                "bytes_processed": run.bytes_processed,
                "attempt": run.attempt,
                "steps": json.dumps(body["steps"]),
                "warnings": json.dumps(list(run.warnings)),
            }
        ],
    )
