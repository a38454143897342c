"""The alternative, in its own process: dlt loads the day from the export into DuckDB, then the same
aggregate runs there. ``python -m bench.dlt_job EXPORT_COPY DAY WORKDIR``; one line in -> one round.

dlt's best reasonable configuration (measured on this machine; see docs/benchmarks.md):
- the source is a resource yielding Arrow record batches straight from DuckDB (dlt's documented
  fastest path: Arrow tables skip row-by-row normalization and are written to Parquet as they come);
- the day's filter and the column projection run in the source query, struct fields flattened, so
  dlt moves only the 16 columns the aggregate reads, for that day only; ``credits`` (a repeated
  record) is kept whole, as dlt stores nested data: a JSON column;
- ``loader_file_format="parquet"`` (DuckDB loads it with ``read_parquet``), write disposition
  ``replace``, default workers (``NORMALIZE__WORKERS=2`` was slower here: 2 cores), the pipeline
  object reused across rounds (a warm worker, like the system's warm server);
- the aggregate is the pipeline's own SQL in DuckDB dialect, written to a table with CREATE TABLE AS
  through dlt's SQL client; credits summed from the JSON with ``json_extract``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.exports import EXPORT_DATASET, EXPORT_PROJECT, EXPORT_TABLE

EXTRACT_SQL = f"""
SELECT usage_start_time,
  service.id AS service_id, service.description AS service_description,
  sku.id AS sku_id, sku.description AS sku_description,
  project.id AS project_id, project.name AS project_name,
  cost_type, currency, invoice.month AS invoice_month, usage.pricing_unit AS pricing_unit,
  cost, credits, cost_at_list, usage.amount_in_pricing_units AS usage_amount_in_pricing_units, export_time
FROM "{EXPORT_PROJECT}"."{EXPORT_DATASET}"."{EXPORT_TABLE}"
WHERE usage_start_time >= $day_start AND usage_start_time < $day_start + INTERVAL 1 DAY
"""

AGGREGATE_SQL = """
CREATE OR REPLACE TABLE billing.billing_daily AS
SELECT
  CAST(usage_start_time AS DATE) AS usage_date,
  service_id, service_description, sku_id, sku_description, project_id, project_name,
  cost_type, currency, invoice_month, pricing_unit,
  SUM(cost) AS cost,
  SUM(COALESCE(list_sum(CAST(json_extract(credits, '$[*].amount') AS DOUBLE[])), 0)) AS credits,
  SUM(cost_at_list) AS cost_at_list,
  SUM(usage_amount_in_pricing_units) AS usage_amount_in_pricing_units,
  MAX(export_time) AS source_export_time,
  COUNT(*) AS source_rows
FROM billing.billing_export_day
GROUP BY ALL
"""
ARROW_BATCH_ROWS = 122_880  # one DuckDB row group per batch


def main(export_copy: Path, day: date, workdir: Path) -> None:
    started = time.perf_counter()
    import dlt
    import duckdb

    import_s = time.perf_counter() - started
    source = duckdb.connect()
    source.execute("SET TimeZone = 'UTC'")
    source.execute(f"ATTACH '{export_copy}' AS \"{EXPORT_PROJECT}\" (READ_ONLY)")
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)

    @dlt.resource(name="billing_export_day", write_disposition="replace")
    def billing_export_day() -> Any:
        yield from source.sql(EXTRACT_SQL, params={"day_start": day_start}).to_arrow_reader(ARROW_BATCH_ROWS)

    pipeline = dlt.pipeline(
        pipeline_name="bench_billing",
        destination=dlt.destinations.duckdb(str(workdir / "destination.duckdb")),
        dataset_name="billing",
        pipelines_dir=str(workdir / "pipelines"),
    )
    print(json.dumps({"ready": True, "import_s": import_s}), flush=True)
    for _ in sys.stdin:
        round_started = time.perf_counter()
        pipeline.run(billing_export_day(), loader_file_format="parquet")
        loaded = time.perf_counter()
        with pipeline.sql_client() as client:
            client.execute_sql(AGGREGATE_SQL)
            totals = client.execute_sql("SELECT SUM(source_rows), SUM(credits), COUNT(*) FROM billing.billing_daily")
        finished = time.perf_counter()
        source_rows, credits, groups = totals[0]
        print(
            json.dumps(
                {
                    "load_s": loaded - round_started,
                    "aggregate_s": finished - loaded,
                    "total_s": finished - round_started,
                    "source_rows": int(source_rows),
                    "credits": float(credits),
                    "groups": int(groups),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), Path(sys.argv[3]))
