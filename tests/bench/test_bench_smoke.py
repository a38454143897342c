"""The benchmark harness end to end at its smallest: every section runs and every figure is reported.

No timing thresholds here (a shared CI machine makes timed tests flaky); the figures themselves are
judged by ``python -m bench`` and published in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bench import run

pytest.importorskip("dlt", reason="the bench extra is not installed: pip install -e '.[bench]'")

SIZES = [20_000, 50_000]
PIPELINE_FIGURES = [
    "pipeline_s", "pipeline_recorded_s", "pipeline_submit_s", "pipeline_queue_wait_s", "pipeline_execute_s",
    "pipeline_query_step_s", "pipeline_load_step_s", "floor_ctas_s", "floor_fetch_s", "floor_s", "overhead_ratio",
    "recorded_overhead_ratio", "transpiled_s", "transpiled_vs_hand_ratio", "naive_transpiled_s", "peak_rss_mb",
    "idle_rss_mb",
]  # fmt: skip
DLT_FIGURES = ["system_s", "dlt_s", "dlt_load_s", "dlt_aggregate_s", "dlt_first_run_s", "dlt_import_s", "speedup"]
COLD_FIGURES = ["import_s", "import_ratio", "first_answer_s", "first_answer_ratio"]
API_FIGURES = ["requests_per_s", "p50_ms", "p99_ms"]


def _positive(entry: dict[str, Any], names: list[str], where: str) -> None:
    for name in names:
        value = entry.get(name)
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, f"{where}.{name} = {value!r}"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("bench")
    sizes = ",".join(map(str, SIZES))
    status = run.main(
        ["--quick", "--sizes", sizes, "--alt-sizes", str(SIZES[0]), "--rounds", "1", "--cold-rounds", "1",
         "--api-rounds", "1", "--api-seconds", "0.3", "--fanout-orgs", "10", "--fanout-repeats", "1",
         "--history-days", "30,60", "--history-rows-per-day", "300",
         "--costs-requests", "3", "--costs-days", "90",
         "--cache-dir", str(work / "cache"), "--results-dir", str(work / "results"), "--no-docs"]
    )  # fmt: skip
    assert status == 0
    latest: dict[str, Any] = json.loads((work / "results" / "latest.json").read_text())
    return latest


def test_pipeline_and_scaling_figures(results: dict[str, Any]) -> None:
    sizes = results["pipeline"]["sizes"]
    assert [size["rows"] for size in sizes] == SIZES
    for size in sizes:
        _positive(size, PIPELINE_FIGURES, f"pipeline[{size['rows']}]")
        assert size["transpiled_same_result"] is True
        assert size["day_rows"] > 0
    assert "LIST_SUM" in results["pipeline"]["transpiled_sql"]


def test_dlt_figures(results: dict[str, Any]) -> None:
    (size,) = results["alternative"]["sizes"]
    _positive(size, DLT_FIGURES, "alternative")
    assert size["dlt_result_matches_export"] is True


def test_cold_start_figures(results: dict[str, Any]) -> None:
    cold = results["cold_start"]
    _positive(cold["baseline"], ["import_s", "first_answer_s"], "cold_start.baseline")
    assert set(cold["functions"]) == {"submit", "status", "admin", "execute"}
    for name, entry in cold["functions"].items():
        _positive(entry, COLD_FIGURES, f"cold_start.{name}")
        assert all(200 <= status < 300 for status in entry["first_answer_statuses"]), name


def test_api_figures(results: dict[str, Any]) -> None:
    api = results["api"]
    for name in ("hello", "submit", "status"):
        _positive(api[name], API_FIGURES, f"api.{name}")
    _positive(api["submit"], ["throughput_ratio"], "api.submit")
    _positive(api["status"], ["throughput_ratio"], "api.status")


def test_every_target_is_judged(results: dict[str, Any]) -> None:
    judged = {target["section"] for target in results["targets"]}
    assert judged == {
        "1 pipeline", "2 scaling", "3 vs dlt", "4 cold start", "5 API", "6 fan-out", "7 history", "8 cost API"
    }  # fmt: skip
    fan = results["fanout"]
    _positive(fan, ["tick_s", "runs_per_s", "per_org_ms", "repeat_tick_s"], "fanout")
    assert fan["runs_created"] == 10 * 3 and fan["failures"] == 0  # 10 orgs x the 3-day lookback
    assert fan["repeat_duplicates"] == fan["runs_created"] and fan["repeat_runs_created"] == 0
    machine = results["meta"]["machine"]
    assert machine["cpu_model"] and machine["cores"] and machine["ram_gib"] and machine["packages"]["duckdb"]


def test_markdown_renders(results: dict[str, Any]) -> None:
    from bench import report

    text = report.markdown(results, "python -m bench")
    for heading in ("## Targets", "## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7.", "## 8."):
        assert heading in text


def test_history_figures_and_the_bytes_a_run_reads(results: dict[str, Any]) -> None:
    history = results["history"]
    first, second = history["histories"]
    assert (first["days"], second["days"]) == (30, 60)
    for entry in (first, second):
        figures = ["pipeline_s", "query_step_s", "duckdb_pruned_median_s", "run_bytes"]
        _positive(entry, figures, f"history.{entry['days']}")
        assert entry["rows_loaded"] > 0
    # the bytes are a model of BigQuery's bill, not a timing: the partition filter keeps a run's
    # bytes to its window's partitions, while the unpruned SQL reads every day of history
    assert abs(second["run_bytes"] / first["run_bytes"] - 1) < 0.1
    assert 1.8 < second["run_bytes_unpruned"] / first["run_bytes_unpruned"] < 2.2
    assert first["run_bytes_unpruned"] / first["run_bytes"] > 30 / 7 * 0.9  # 30 partitions against 7
    assert "credits.amount" in history["leaves"]["aggregate"] and "credits" not in history["leaves"]["aggregate"]
    assert history["leaves"]["watermark"] == ["export_time", "usage_start_time"]


def test_cost_api_figures(results: dict[str, Any]) -> None:
    costs = results["costs"]
    _positive(costs, ["p50_ms", "p90_ms", "p99_ms", "focus_rows", "server_peak_rss_mb"], "costs")
    # every answer had one row per day and service: the query answered what was asked
    assert costs["answer_rows"] == [costs["answer_rows_expected"]] == [90 * 14]
    assert any(target["section"] == "8 cost API" and target["unit"] == " ms" for target in results["targets"])
