"""The benchmark harness: ``.venv/bin/python -m bench`` (full) or ``-m bench --quick`` (about a minute).

Runs the sections (pipeline overhead and scaling, dlt, cold start, API load), prints the targets
table, writes every figure as JSON to ``bench/results/`` and, for a full run, regenerates
``docs/benchmarks.md``. Exports are generated once and cached in ``bench/.cache/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.common import PROJECT_ROOT
from bench.exports import DEFAULT_CACHE_DIR

SECTIONS = ("pipeline", "alternative", "cold_start", "api", "fanout", "history", "costs")
FULL = {
    "sizes": [1_000_000, 3_000_000, 10_000_000],
    "alt_sizes": [1_000_000, 10_000_000],
    "rounds": 7,
    "naive_rounds": 3,
    "cold_rounds": 7,
    "api_rounds": 3,
    "api_seconds": 5.0,
    "fanout_orgs": 1000,
    "fanout_repeats": 3,
    "history_days": [30, 365, 1095],
    "history_rows_per_day": 10_000,
    "costs_requests": 200,
    "costs_days": 365,
}
QUICK = {
    "sizes": [100_000, 300_000],
    "alt_sizes": [100_000],
    "rounds": 2,
    "naive_rounds": 1,
    "cold_rounds": 2,
    "api_rounds": 1,
    "api_seconds": 1.0,
    "fanout_orgs": 50,
    "fanout_repeats": 1,
    "history_days": [30, 90],
    "history_rows_per_day": 1_000,
    "costs_requests": 20,
    "costs_days": 120,
}
DOCS_PATH = PROJECT_ROOT / "docs" / "benchmarks.md"
COMMAND = ".venv/bin/python -m bench"
# progress goes through logging (plain lines on stdout), so whatever collects a process's logs
# (the test suite's secret scan, for one) sees the harness's output too
log = logging.getLogger("bench")


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer rounds: about a minute")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--sizes", type=_sizes, help="export rows for sections 1-2, e.g. 1000000,3000000")
    parser.add_argument("--alt-sizes", type=_sizes, help="export rows for section 3 (dlt)")
    parser.add_argument("--rounds", type=int, help="timed rounds per comparison (sections 1-3)")
    parser.add_argument("--naive-rounds", type=int, help="rounds of the un-rewritten SQL (slow at 10M rows)")
    parser.add_argument("--cold-rounds", type=int, help="process starts per function (section 4)")
    parser.add_argument("--api-rounds", type=int, help="load rounds per endpoint (section 5)")
    parser.add_argument("--api-seconds", type=float, help="seconds per load measurement (section 5)")
    parser.add_argument("--api-connections", type=int, default=4, help="concurrent connections (section 5)")
    parser.add_argument("--fanout-orgs", type=int, help="orgs a scheduler tick fans out over (section 6)")
    parser.add_argument("--fanout-repeats", type=int, help="repeated ticks timed (section 6)")
    parser.add_argument("--history-days", type=_sizes, help="days of export history compared (section 7)")
    parser.add_argument("--history-rows-per-day", type=int, help="export rows per day of history (section 7)")
    parser.add_argument("--costs-requests", type=int, help="cost API requests timed (section 8)")
    parser.add_argument("--costs-days", type=int, help="days of FOCUS rows behind the cost API (section 8, >= 90)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="status polling interval while a run is going")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="generated exports, work files")
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "bench" / "results")
    parser.add_argument("--from-json", type=Path, help="run nothing: print and publish a saved results file")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--docs", dest="docs", action="store_true", default=None, help="rewrite docs/benchmarks.md")
    docs.add_argument("--no-docs", dest="docs", action="store_false", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.docs is None:
        args.docs = not args.quick  # quick figures are too small to publish
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def run_sections(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    from bench import alternative, api_load, cold_start, costs, fanout, history, pipeline

    sections = args.sections.split(",")
    poll_s = args.poll_ms / 1000
    results: dict[str, Any] = {}
    if "pipeline" in sections:
        say("1-2. Pipeline overhead and scaling")
        results["pipeline"] = pipeline.run(args.sizes, args.rounds, poll_s, args.naive_rounds, args.cache_dir, say)
    if "alternative" in sections:
        say("3. Against dlt")
        results["alternative"] = alternative.run(args.alt_sizes, args.rounds, poll_s, args.cache_dir, say)
    if "cold_start" in sections:
        say("4. Cold start")
        results["cold_start"] = cold_start.run(args.cold_rounds, args.cache_dir, say)
    if "api" in sections:
        say("5. API path")
        results["api"] = api_load.run(args.api_rounds, args.api_seconds, args.api_connections, args.cache_dir, say)
    if "fanout" in sections:
        say("6. Scheduler fan-out")
        results["fanout"] = fanout.run(args.fanout_orgs, args.fanout_repeats, args.cache_dir, say)
    if "history" in sections:
        say("7. A day's run as history grows")
        results["history"] = history.run(
            args.rounds, poll_s, args.cache_dir, say, tuple(args.history_days), args.history_rows_per_day
        )
    if "costs" in sections:
        say("8. Cost API")
        results["costs"] = costs.run(
            args.costs_requests, args.costs_days, costs.ACCOUNTS, costs.REGIONS, args.cache_dir, say
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved: dict[str, Any] = json.loads(args.from_json.read_text())
        print(report.console_table(saved["targets"]), flush=True)
        if args.docs:
            DOCS_PATH.write_text(
                report.markdown(saved, f"{COMMAND} {saved['meta']['options']}".replace(" (defaults)", ""))
            )
        return 0
    started = time.perf_counter()
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    say = log.info

    meta: dict[str, Any] = {"machine": machine.describe(), "quick": args.quick}
    meta["options"] = " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)"
    say(f"CloudAct benchmarks ({'quick' if args.quick else 'full'}) on {meta['machine']['cpu_model']}")
    results = run_sections(args, say)
    meta["seconds"] = time.perf_counter() - started
    meta["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    results = {"meta": meta, **results}
    results["targets"] = report.judge(results)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = json.dumps(results, indent=2, default=str)
    out = args.results_dir / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(payload)
    (args.results_dir / "latest.json").write_text(payload)
    print("\n" + report.console_table(results["targets"]), flush=True)
    say(f"JSON: {out}")
    if args.docs:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(report.markdown(results, f"{COMMAND} {meta['options']}".replace(" (defaults)", "")))
        say(f"docs: {DOCS_PATH}")
    return 0
