"""Sections 1 and 2: a one-day ``gcp/cost/billing`` run on the embedded stack against DuckDB alone.

The system side: a LocalStack in its own process (HTTP functions + push delivery), an onboarded org
whose GCP integration points at the cached export, and runs timed from the trigger (HTTP POST) to
the status API first answering COMPLETE. The run record's timestamps split that time into queue
wait, execution and steps.

The floor: DuckDB alone on a byte-identical copy of the same export file (the server holds a write
lock on the one it attached), running hand-written DuckDB SQL for the same aggregate, into a new
table (CREATE TABLE AS) or fetched. Both sides run in the same invocation, round after round,
alternating which goes first, so machine noise falls on both.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ADMIN_KEY, JsonHttp, ServerChild, current_rss_mb, median, paired_ratio
from bench.exports import EXPORT_PROJECT, CachedExport, ensure_export, link_into
from shared.local_stack.billing_export import DEFAULT_TABLE

ORG = "benchorg"
PIPELINE_PATH = "gcp/cost/billing"
# the push delivery's poll interval in shared/local_stack/server.py: pauses are drawn across it
TRIGGER_PAUSE_MAX_S = 0.2
PIPELINE_SQL = Path(__file__).resolve().parent.parent / "configs" / "gcp" / "cost" / "sql" / "billing_daily.sql"
SOURCE_WINDOW_DAYS = 5
"""The billing pipeline's default ``source_window_days``, bound as the pipeline binds it."""

# The floor: what a person would write for DuckDB by hand. Same columns, groups and sums as
# configs/gcp/cost/sql/billing_daily.sql; credits through list functions (the fast form), the day
# as literal timestamps so DuckDB prunes row groups with no parameter in the way.
HAND_WRITTEN_SQL = """
SELECT
  CAST(usage_start_time AS DATE) AS usage_date, billing_account_id,
  service.id AS service_id, service.description AS service_description,
  sku.id AS sku_id, sku.description AS sku_description,
  project.id AS project_id, project.name AS project_name,
  location.region AS region, location.zone AS zone,
  cost_type, currency, invoice.month AS invoice_month, usage.pricing_unit AS pricing_unit,
  usage.unit AS usage_unit,
  SUM(cost::DECIMAL(38, 9)) AS cost,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: c.amount::DECIMAL(38, 9))), 0)) AS credits,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: CASE WHEN c.type IN ('PROMOTION', 'FREE_TIER')
    THEN 0 ELSE c.amount::DECIMAL(38, 9) END)), 0)) AS credits_discount,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: CASE WHEN c.type IN ('PROMOTION', 'FREE_TIER')
    THEN c.amount::DECIMAL(38, 9) ELSE 0 END)), 0)) AS credits_promotion,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: CASE WHEN starts_with(c.type, 'COMMITTED_USAGE_DISCOUNT')
    THEN c.amount::DECIMAL(38, 9) ELSE 0 END)), 0)) AS credits_committed,
  SUM(cost_at_list::DECIMAL(38, 9)) AS cost_at_list,
  SUM(usage.amount_in_pricing_units::DECIMAL(38, 9)) AS usage_amount_in_pricing_units,
  SUM(usage.amount::DECIMAL(38, 9)) AS usage_amount,
  '{{' || COALESCE(array_to_string(list_transform(list_sort(labels),
    lambda l: '"' || l.key || '":"' || l.value || '"'), ','), '') || '}}' AS labels_json,
  MAX(export_time) AS source_export_time,
  COUNT(*) AS source_rows
FROM {table}
WHERE usage_start_time >= TIMESTAMPTZ '{day} 00:00:00+00'
  AND usage_start_time < TIMESTAMPTZ '{next_day} 00:00:00+00'
GROUP BY ALL
"""


def bigquery_sql() -> str:
    """The pipeline's SQL as the warehouse receives it: the source placeholder already resolved."""
    return PIPELINE_SQL.read_text().replace("{source}", DEFAULT_TABLE)


def transpiled_sql() -> str:
    from shared.adapters.local import sql_dialect

    return sql_dialect.to_duckdb(bigquery_sql())


def naive_transpiled_sql() -> str:
    """sqlglot alone, without the project's LIST_SUM rewrite: the correlated-subquery trap (the
    partition pseudo-column still mapped, or DuckDB could not run it at all)."""
    import sqlglot

    from shared.adapters.local import sql_dialect

    tree = sqlglot.parse_one(bigquery_sql(), read="bigquery").transform(sql_dialect._partition_pseudo_column)
    return tree.sql(dialect="duckdb")


class Floor:
    """DuckDB alone, warm, on its own copy of the export; the result written to a file database."""

    def __init__(self, export: CachedExport, workdir: Path) -> None:
        import duckdb

        workdir.mkdir(parents=True, exist_ok=True)
        copy = workdir / "export-copy.duckdb"
        shutil.copyfile(export.path, copy)
        self.connection = duckdb.connect(str(workdir / "floor.duckdb"))
        self.connection.execute("SET TimeZone = 'UTC'")
        self.connection.execute(f"ATTACH '{copy}' AS \"{EXPORT_PROJECT}\" (READ_ONLY)")
        self.day = export.day
        self.hand_sql = HAND_WRITTEN_SQL.format(
            table=export.qualified_table, day=export.day, next_day=export.day + timedelta(days=1)
        )
        self.transpiled = transpiled_sql()

    def _timed(self, sql: str, params: dict[str, Any] | None = None) -> tuple[float, list[tuple[Any, ...]]]:
        started = time.perf_counter()
        rows = self.connection.execute(sql, params).fetchall()
        return time.perf_counter() - started, rows

    def create_table_as(self) -> float:
        return self._timed("CREATE OR REPLACE TABLE daily AS " + self.hand_sql)[0]

    def fetch(self) -> float:
        return self._timed(self.hand_sql)[0]

    def transpiled_fetch(self) -> float:
        """The transpiler's output, run the way the warehouse adapter runs it (bound parameters)."""
        return self._timed(self.transpiled, {"date": self.day, "source_window_days": SOURCE_WINDOW_DAYS})[0]

    def naive_fetch(self) -> float:
        return self._timed(naive_transpiled_sql(), {"date": self.day, "source_window_days": SOURCE_WINDOW_DAYS})[0]

    def same_result(self) -> bool:
        """The transpiled query and the hand-written floor compute the same rows (float tolerance)."""
        _, hand = self._timed(self.hand_sql + " ORDER BY ALL")
        params = {"date": self.day, "source_window_days": SOURCE_WINDOW_DAYS}
        _, transpiled = self._timed(f"SELECT * FROM ({self.transpiled}) ORDER BY ALL", params)
        if len(hand) != len(transpiled):
            return False
        return all(
            all(abs(a - b) < 1e-6 if isinstance(a, float) else a == b for a, b in zip(x, y, strict=True))
            for x, y in zip(hand, transpiled, strict=True)
        )

    def close(self) -> None:
        self.connection.close()


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class StackSession:
    """A LocalStack child with one onboarded org whose integration points at the export."""

    server: ServerChild
    client: JsonHttp
    idle_rss_mb: float

    @classmethod
    def start(cls, export: CachedExport, workdir: Path) -> StackSession:
        from shared.local_stack.demo import fake_service_account

        data_dir = workdir / "data"
        link_into(export, data_dir / "warehouse")
        server = ServerChild.start("stack", data_dir, workdir / "server.log")
        idle_rss_mb = current_rss_mb(server.process.pid)
        admin = JsonHttp(server.url, {"X-Admin-Key": ADMIN_KEY})
        created = admin.ok("POST", "/api/v1/admin/orgs", {"org_slug": ORG, "name": "Bench Org"})
        admin.close()
        client = JsonHttp(server.url, {"X-API-Key": created["api_key"]})
        client.ok(
            "PUT",
            f"/api/v1/integrations/{ORG}/gcp",
            {"credential": fake_service_account(EXPORT_PROJECT), "billing_export_table": DEFAULT_TABLE},
        )
        return cls(server, client, idle_rss_mb)

    def run_once(self, day: date, poll_interval_s: float, pause_s: float = 0.0) -> dict[str, Any]:
        """One run, trigger to COMPLETE, with the server-side split from the run record.

        ``pause_s`` first: a random pause keeps triggers from falling in step with the delivery
        loop's polling, so the queue wait is sampled as an independent client would meet it.
        """
        time.sleep(pause_s)
        started = time.perf_counter()
        started_wall = datetime.now(UTC)
        # force_refresh: every round does the whole day's work, not a watermark check that finds
        # the source unchanged since the previous round
        body = {"date": day.isoformat(), "force_refresh": True}
        accepted = self.client.ok("POST", f"/api/v1/pipelines/run/{ORG}/{PIPELINE_PATH}", body)
        submitted = time.perf_counter()
        run_id = accepted["pipeline_logging_id"]
        while True:
            run = self.client.ok("GET", f"/api/v1/pipelines/runs/{run_id}")
            if run["status"] in {"COMPLETE", "FAILED"}:
                break
            time.sleep(poll_interval_s)
        finished = time.perf_counter()
        if run["status"] != "COMPLETE":
            raise RuntimeError(f"benchmark run {run_id} ended {run['status']}: {run.get('error_message')}")
        steps = {step["name"]: step["duration_ms"] / 1000 for step in run["steps"]}
        if "load" not in steps or not run["rows_processed"]:
            raise RuntimeError(f"benchmark run {run_id} did not load the day: {run['steps']}")
        return {
            "end_to_end_s": finished - started,
            "to_recorded_complete_s": (_parse(run["end_time"]) - started_wall).total_seconds(),
            "submit_s": submitted - started,
            "queue_wait_s": (_parse(run["start_time"]) - _parse(run["requested_at"])).total_seconds(),
            "execute_s": run["duration_ms"] / 1000,
            "query_step_s": steps.get("extract_transform", float("nan")),
            "load_step_s": steps.get("load", float("nan")),
            "rows_loaded": run["rows_processed"],
        }

    def stop(self) -> float:
        self.client.close()
        return self.server.stop()


@dataclass
class SizeResult:
    rows: int
    day_rows: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    floor_ctas_s: list[float] = field(default_factory=list)
    floor_fetch_s: list[float] = field(default_factory=list)
    transpiled_s: list[float] = field(default_factory=list)
    naive_transpiled_s: list[float] = field(default_factory=list)
    peak_rss_mb: float = float("nan")
    idle_rss_mb: float = float("nan")
    export_generated_s: float | None = None
    same_result: bool = False

    def summary(self) -> dict[str, Any]:
        def med(key: str) -> float:
            return median([run[key] for run in self.runs])

        floor = min(median(self.floor_ctas_s), median(self.floor_fetch_s))
        floor_per_round = [min(pair) for pair in zip(self.floor_ctas_s, self.floor_fetch_s, strict=True)]
        pipeline = med("end_to_end_s")
        return {
            "rows": self.rows,
            "day_rows": self.day_rows,
            "rounds": len(self.runs),
            "pipeline_s": pipeline,
            "pipeline_recorded_s": med("to_recorded_complete_s"),
            "pipeline_submit_s": med("submit_s"),
            "pipeline_queue_wait_s": med("queue_wait_s"),
            "pipeline_execute_s": med("execute_s"),
            "pipeline_query_step_s": med("query_step_s"),
            "pipeline_load_step_s": med("load_step_s"),
            "floor_ctas_s": median(self.floor_ctas_s),
            "floor_fetch_s": median(self.floor_fetch_s),
            "floor_s": floor,
            "overhead_ratio": paired_ratio([run["end_to_end_s"] for run in self.runs], floor_per_round),
            "recorded_overhead_ratio": paired_ratio(
                [run["to_recorded_complete_s"] for run in self.runs], floor_per_round
            ),
            "transpiled_s": median(self.transpiled_s),
            "transpiled_vs_hand_ratio": paired_ratio(self.transpiled_s, self.floor_fetch_s),
            "naive_transpiled_s": median(self.naive_transpiled_s),
            "transpiled_same_result": self.same_result,
            "peak_rss_mb": self.peak_rss_mb,
            "idle_rss_mb": self.idle_rss_mb,
            "export_generated_s": self.export_generated_s,
            "samples": {
                "pipeline_s": [run["end_to_end_s"] for run in self.runs],
                "floor_ctas_s": self.floor_ctas_s,
                "floor_fetch_s": self.floor_fetch_s,
                "transpiled_s": self.transpiled_s,
            },
        }


def measure_size(
    rows: int, rounds: int, poll_interval_s: float, naive_rounds: int, cache_dir: Path, say: Any
) -> SizeResult:
    export = ensure_export(rows, cache_dir)
    workdir = cache_dir / "work" / f"pipeline-{rows}"
    shutil.rmtree(workdir, ignore_errors=True)
    floor = Floor(export, workdir / "floor")
    result = SizeResult(rows=rows, day_rows=0, export_generated_s=export.generated_s)
    session = StackSession.start(export, workdir / "stack")
    try:
        result.idle_rss_mb = session.idle_rss_mb
        # warm-up, untimed: the first run pays lazy imports, the first ATTACH and table creation;
        # the floor's first query pays its first reads of the file
        result.day_rows = int(
            floor.connection.execute(f"SELECT SUM(source_rows) FROM ({floor.hand_sql})").fetchone()[0]
        )
        session.run_once(export.day, poll_interval_s)
        pauses = random.Random(rows)  # noqa: S311 - seeded for repeatable pauses, not for secrets
        floor.create_table_as()
        floor.transpiled_fetch()
        result.same_result = floor.same_result()
        for round_number in range(rounds):
            system_first = round_number % 2 == 0
            if system_first:
                result.runs.append(
                    session.run_once(export.day, poll_interval_s, pauses.uniform(0, TRIGGER_PAUSE_MAX_S))
                )
            result.floor_ctas_s.append(floor.create_table_as())
            result.floor_fetch_s.append(floor.fetch())
            result.transpiled_s.append(floor.transpiled_fetch())
            if not system_first:
                result.runs.append(
                    session.run_once(export.day, poll_interval_s, pauses.uniform(0, TRIGGER_PAUSE_MAX_S))
                )
        for _ in range(naive_rounds):
            result.naive_transpiled_s.append(floor.naive_fetch())
    finally:
        result.peak_rss_mb = session.stop()
        floor.close()
    shutil.rmtree(workdir, ignore_errors=True)
    summary = result.summary()
    say(
        f"  {rows:>11,} rows: pipeline {summary['pipeline_s'] * 1000:7.1f} ms,"
        f" floor {summary['floor_s'] * 1000:6.1f} ms -> {summary['overhead_ratio']:.2f}x;"
        f" peak RSS {result.peak_rss_mb:.0f} MiB"
    )
    return result


def run(
    sizes: list[int], rounds: int, poll_interval_s: float, naive_rounds: int, cache_dir: Path, say: Any
) -> dict[str, Any]:
    results = [measure_size(rows, rounds, poll_interval_s, naive_rounds, cache_dir, say).summary() for rows in sizes]
    return {
        "poll_interval_s": poll_interval_s,
        "sizes": results,
        "transpiled_sql": transpiled_sql(),
        "hand_written_sql": HAND_WRITTEN_SQL.strip(),
    }
