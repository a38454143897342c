"""Section 3: the same day with dlt (load, then aggregate) against this system, end to end.

Both run warm, in their own processes, in alternating rounds of the same invocation: the system as
a LocalStack with an onboarded org (trigger to COMPLETE), dlt as a worker process that has already
imported dlt and built its pipeline (``bench/dlt_job.py`` documents its configuration). dlt reads a
byte-identical copy of the export file (the server holds a write lock on the one it attached).
The first round of each side is a warm-up and not counted. dlt's result is checked against the
export itself (row count and credits total), so a fast wrong load cannot win.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, child_env, median, paired_ratio
from bench.exports import EXPORT_PROJECT, ensure_export
from bench.pipeline import TRIGGER_PAUSE_MAX_S, StackSession


def dlt_available() -> bool:
    return importlib.util.find_spec("dlt") is not None


def _expected_totals(export_path: Any, qualified_table: str, day: Any) -> tuple[int, float]:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"ATTACH '{export_path}' AS \"{EXPORT_PROJECT}\" (READ_ONLY)")
    rows, credits = connection.execute(
        "SELECT COUNT(*), SUM(COALESCE(list_sum(list_transform(credits, lambda c: c.amount)), 0))"
        f" FROM {qualified_table} WHERE usage_start_time >= TIMESTAMPTZ '{day} 00:00:00+00'"
        f" AND usage_start_time < TIMESTAMPTZ '{day + timedelta(days=1)} 00:00:00+00'"
    ).fetchone()
    connection.close()
    return int(rows), float(credits)


class DltWorker:
    def __init__(self, export_copy: Any, day: Any, workdir: Any) -> None:
        self.log = (workdir / "dlt.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
            [sys.executable, "-m", "bench.dlt_job", str(export_copy), day.isoformat(), str(workdir)],
            cwd=PROJECT_ROOT,
            # telemetry off: nothing leaves this machine, and no network wait in the timings
            env=child_env(None, RUNTIME__LOG_LEVEL="WARNING", RUNTIME__DLTHUB_TELEMETRY="false"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("dlt worker exited; see dlt.log in the benchmark's work directory")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run_once(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._answer()

    def stop(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.process.stdout.close()
        self.log.close()


def measure_size(rows: int, rounds: int, poll_interval_s: float, cache_dir: Path, say: Any) -> dict[str, Any]:
    export = ensure_export(rows, cache_dir)
    workdir = cache_dir / "work" / f"alternative-{rows}"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "dlt").mkdir(parents=True)
    export_copy = workdir / "dlt" / "export-copy.duckdb"
    shutil.copyfile(export.path, export_copy)
    expected_rows, expected_credits = _expected_totals(export_copy, export.qualified_table, export.day)

    session = StackSession.start(export, workdir / "stack")
    worker = DltWorker(export_copy, export.day, workdir / "dlt")
    system: list[float] = []
    dlt_rounds: list[dict[str, Any]] = []
    try:
        session.run_once(export.day, poll_interval_s)  # warm-ups, not counted
        first = worker.run_once()
        pauses = random.Random(rows)  # noqa: S311 - seeded for repeatable pauses, not for secrets

        def run_system() -> None:
            pause = pauses.uniform(0, TRIGGER_PAUSE_MAX_S)
            system.append(session.run_once(export.day, poll_interval_s, pause)["end_to_end_s"])

        def run_dlt() -> None:
            dlt_rounds.append(worker.run_once())

        for round_number in range(rounds):
            for step in (run_system, run_dlt) if round_number % 2 == 0 else (run_dlt, run_system):
                step()
    finally:
        worker.stop()
        session.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    last = dlt_rounds[-1] if dlt_rounds else first
    correct = last["source_rows"] == expected_rows and abs(last["credits"] - expected_credits) < 1e-6 * max(
        1.0, abs(expected_credits)
    )
    dlt_total = median([r["total_s"] for r in dlt_rounds])
    result = {
        "rows": rows,
        "rounds": rounds,
        "system_s": median(system),
        "dlt_s": dlt_total,
        "dlt_load_s": median([r["load_s"] for r in dlt_rounds]),
        "dlt_aggregate_s": median([r["aggregate_s"] for r in dlt_rounds]),
        "dlt_first_run_s": first["total_s"],
        "dlt_import_s": worker.ready["import_s"],
        "speedup": paired_ratio([r["total_s"] for r in dlt_rounds], system),
        "dlt_result_matches_export": correct,
        "samples": {"system_s": system, "dlt_s": [r["total_s"] for r in dlt_rounds]},
    }
    say(
        f"  {rows:>11,} rows: system {result['system_s'] * 1000:7.1f} ms, dlt {dlt_total * 1000:7.1f} ms"
        f" -> system {result['speedup']:.1f}x faster"
    )
    return result


def run(sizes: list[int], rounds: int, poll_interval_s: float, cache_dir: Path, say: Any) -> dict[str, Any]:
    if not dlt_available():
        return {"skipped": "dlt is not installed: pip install -e '.[bench]'", "sizes": []}
    started = time.perf_counter()
    results = [measure_size(rows, rounds, poll_interval_s, cache_dir, say) for rows in sizes]
    return {"sizes": results, "seconds": time.perf_counter() - started, "dlt_version": _dlt_version()}


def _dlt_version() -> str:
    from importlib.metadata import version

    return version("dlt")
