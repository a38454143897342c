"""Section 7: the cost API's latency on the local stack, over a year of FOCUS rows for three providers.

A year of rows (every day x provider x service x sub-account x region) is written straight into the
org's ``focus_costs`` (``bench/focus_data.py``), then the API gateway runs in its own process (the
warehouse file is then that process's alone, as with ``cloudact serve``) and a client in this process
asks for 90 days grouped by day and service, one request at a time, over windows spread across the
year. Latency is the wall time of one request on the client side, TCP connect included.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import focus_data
from bench.common import ADMIN_KEY, JsonHttp, ServerChild, median, percentile

ORG = "costorg"
WINDOW_DAYS = 90
GROUP_BY = "day,service"
WARMUP = 5
ACCOUNTS = 10
REGIONS = 4
"""Per provider and service: 10 sub-accounts x 4 regions, so 14 services give 560 rows a day."""
TARGET_P50_MS = 50.0


def _write_year(data_dir: Path, days: int, end: date, accounts: int, regions: int) -> tuple[str, int]:
    """Onboards the org and writes its FOCUS rows in this process; returns (API key, rows)."""
    from shared import application
    from shared.services import onboarding

    saved = {name: os.environ.get(name) for name in ("CLOUDACT_DATA_DIR", "CLOUDACT_BACKEND", "CLOUDACT_ADMIN_KEY")}
    os.environ.update(
        {"CLOUDACT_DATA_DIR": str(data_dir), "CLOUDACT_BACKEND": "local", "CLOUDACT_ADMIN_KEY": ADMIN_KEY}
    )
    app = application.Application.from_env()
    try:
        backend = app.backend
        _, api_key, _ = onboarding.create_org(backend, ORG)
        region_names = ("us-central1", "europe-west1", "asia-east1", "us-east4", "europe-west4")[:regions]
        rows = focus_data.synthetic_year(end, days, accounts=accounts, regions=region_names)
        written = focus_data.write(backend.warehouses.platform(), ORG, rows)
    finally:
        app.close()  # closes the warehouse file for the server process
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return api_key, written


def run(
    requests: int, days: int, accounts: int, regions: int, cache_dir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    workdir = cache_dir / "work" / "costs"
    shutil.rmtree(workdir, ignore_errors=True)
    end = date(2025, 12, 31)
    started = time.perf_counter()
    api_key, rows = _write_year(workdir / "data", days, end, accounts, regions)
    write_s = time.perf_counter() - started
    say(f"  {rows:,} FOCUS rows over {days} days written in {write_s:.1f} s")
    server = ServerChild.start("gateway", workdir / "data", workdir / "gateway.log")
    client = JsonHttp(server.url, {"X-API-Key": api_key})
    window = min(WINDOW_DAYS, days)
    starts = [end - timedelta(days=days - 1) + timedelta(days=offset) for offset in range(0, days - window + 1, 7)]
    latencies_ms: list[float] = []
    answer_rows: set[int] = set()
    try:
        for index in range(WARMUP + requests):
            first = starts[index % len(starts)]
            query = {
                "start": first.isoformat(),
                "end": (first + timedelta(days=window - 1)).isoformat(),
                "group_by": GROUP_BY,
            }
            began = time.perf_counter()
            answer = client.ok("GET", f"/api/v1/costs/{ORG}?{urlencode(query)}")
            elapsed_ms = (time.perf_counter() - began) * 1000
            if index >= WARMUP:
                latencies_ms.append(elapsed_ms)
                answer_rows.add(len(answer["rows"]))
    finally:
        client.close()
        peak_rss = server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    services = sum(len(focus_data.PROVIDERS[name]) for name in focus_data.PROVIDERS)
    result = {
        "providers": len(focus_data.PROVIDERS),
        "days": days,
        "focus_rows": rows,
        "window_days": window,
        "group_by": GROUP_BY,
        "requests": requests,
        "answer_rows": sorted(answer_rows),
        "answer_rows_expected": window * services,
        "p50_ms": median(latencies_ms),
        "p90_ms": percentile(latencies_ms, 0.9),
        "p99_ms": percentile(latencies_ms, 0.99),
        "write_s": write_s,
        "server_peak_rss_mb": peak_rss,
    }
    say(
        f"  {window}-day window by {GROUP_BY}: p50 {result['p50_ms']:.1f} ms  p90 {result['p90_ms']:.1f} ms"
        f"  p99 {result['p99_ms']:.1f} ms  ({requests} requests, {sorted(answer_rows)} rows each)"
    )
    return result
