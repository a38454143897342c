"""Section 5: requests/s and latency of submit and status against a functions-framework hello-world.

Both servers are the same kind: Werkzeug's threaded server (the one the local stack uses) in its own
process, the hello-world loaded through functions-framework's ``create_app`` exactly like our
functions. The system side is the API gateway of the local stack *without* push delivery: every
accepted run stays queued (PENDING), so the measurement is the API path alone, not the worker
competing for the same two cores. Each submit carries a new date (identical parameters would
answer 409). The load generator is a separate process from both servers; targets alternate within
each round and each measurement is preceded by a short warm-up.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import ServerChild, median, onboard_with_a_run, paired_ratio
from bench.loadgen import Request, run_load

ORG = "loadorg"
FIRST_DAY = date(2010, 1, 2)  # the API refuses days before 2010-01-01 (that one is the fixture's run)
WARMUP_S = 0.5


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def run(
    rounds: int, duration_s: float, connections: int, cache_dir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    workdir = cache_dir / "work" / "api-load"
    shutil.rmtree(workdir, ignore_errors=True)
    hello = ServerChild.start("hello", workdir / "hello", workdir / "hello.log")
    gateway = ServerChild.start("gateway", workdir / "data", workdir / "gateway.log")
    try:
        api_key, run_id = onboard_with_a_run(gateway.url, ORG, "2010-01-01")

        # every submit a day no other submit used: capacity from 2010 to yesterday (~6,000 runs)
        days = itertools.count()
        capacity = (date.today() - FIRST_DAY).days - 1
        submit_headers = {"X-API-Key": api_key, "Content-Type": "application/json"}

        def submit() -> Request:
            day = FIRST_DAY + timedelta(days=next(days))
            body = json.dumps({"date": day.isoformat()}).encode()
            return "POST", f"/api/v1/pipelines/run/{ORG}/gcp/cost/billing", submit_headers, body

        def status() -> Request:
            return "GET", f"/api/v1/pipelines/runs/{run_id}", {"X-API-Key": api_key}, None

        def hello_world() -> Request:
            return "GET", "/", {}, None

        targets: dict[str, tuple[int, Callable[[], Request]]] = {
            "hello": (_port(hello.url), hello_world),
            "submit": (_port(gateway.url), submit),
            "status": (_port(gateway.url), status),
        }
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        per_measurement_cap = max(1, capacity // (2 * rounds + 2))
        for _ in range(rounds):
            for name, (port, factory) in targets.items():
                run_load(port, factory, connections, WARMUP_S, per_measurement_cap)
                samples[name].append(run_load(port, factory, connections, duration_s, per_measurement_cap).summary())
    finally:
        hello_rss = hello.stop()
        gateway_rss = gateway.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return median([float(sample[key]) for sample in samples[name]])

    results: dict[str, Any] = {
        "rounds": rounds,
        "duration_s": duration_s,
        "connections": connections,
        "delivery": "off: accepted runs stay queued (PENDING), never executed",
        "peak_rss_mb": {"hello": hello_rss, "gateway": gateway_rss},
    }
    for name in targets:
        results[name] = {
            "requests_per_s": med(name, "requests_per_s"),
            "p50_ms": med(name, "p50_ms"),
            "p99_ms": med(name, "p99_ms"),
            "non_2xx": sum(sample["requests"] - sample["ok"] + sample["errors"] for sample in samples[name]),
            "samples": samples[name],
        }
    for name in ("submit", "status"):
        results[name]["throughput_ratio"] = paired_ratio(
            [sample["requests_per_s"] for sample in samples[name]],
            [sample["requests_per_s"] for sample in samples["hello"]],
        )
    for name in targets:
        entry = results[name]
        extra = f" ({entry['throughput_ratio']:.2f}x hello)" if "throughput_ratio" in entry else ""
        say(
            f"  {name:<7} {entry['requests_per_s']:7.0f} req/s{extra}  p50 {entry['p50_ms']:6.2f} ms"
            f"  p99 {entry['p99_ms']:6.2f} ms"
        )
    return results
