"""Section 6: one scheduler tick fanned out over many orgs, on the local stack.

N orgs are onboarded with the GCP integration (one service-account key shared by all: generating
an RSA key per org would time the set-up, not the tick), then the scheduler function's
``POST /api/v1/scheduler/tick`` is called over HTTP with a locally signed token, as the local
stack's clock and Cloud Scheduler call it. The tick queues one run per org and per day of the
pipeline's lookback window. Push delivery is off: this times the fan-out (validate, record,
queue), not the runs. A tick's runs stay PENDING, so a second tick finds every day already
covered: it is timed too (the cost of an at-least-once repeat), over several rounds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ADMIN_KEY, PROJECT_ROOT, JsonHttp, ServerChild, child_env, median

PIPELINE = "gcp/cost/billing"
MINT_SNIPPET = "from shared import application; print(application.current().local_scheduler_token())"


def _onboard(url: str, orgs: int) -> None:
    from shared.local_stack.billing_export import DEFAULT_TABLE
    from shared.local_stack.demo import fake_service_account

    credential = fake_service_account("acme-billing-export")
    admin = JsonHttp(url, {"X-Admin-Key": ADMIN_KEY})
    for index in range(orgs):
        slug = f"fanout{index:05d}"
        api_key = admin.ok("POST", "/api/v1/admin/orgs", {"org_slug": slug})["api_key"]
        client = JsonHttp(url, {"X-API-Key": api_key})
        client.ok(
            "PUT",
            f"/api/v1/integrations/{slug}/gcp",
            {"credential": credential, "billing_export_table": DEFAULT_TABLE},
        )
        client.close()
    admin.close()


def _token(data_dir: Path) -> str:
    minted = subprocess.run(  # noqa: S603 - this interpreter, a one-line snippet of ours
        [sys.executable, "-c", MINT_SNIPPET],
        cwd=PROJECT_ROOT,
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    return minted.stdout.strip()


def _tick(url: str, token: str, job: str, schedule_time: str) -> tuple[float, dict[str, Any]]:
    client = JsonHttp(
        url,
        {
            "Authorization": f"Bearer {token}",
            "X-CloudScheduler-JobName": job,
            "X-CloudScheduler-ScheduleTime": schedule_time,
        },
        timeout_s=600,
    )
    started = time.perf_counter()
    report = client.ok("POST", "/api/v1/scheduler/tick", {"pipeline": PIPELINE})
    seconds = time.perf_counter() - started
    client.close()
    return seconds, report


def run(orgs: int, repeat_rounds: int, cache_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    from shared.domain.runs import iso, utcnow

    workdir = cache_dir / "work" / "fanout"
    shutil.rmtree(workdir, ignore_errors=True)
    data_dir = workdir / "data"
    server = ServerChild.start("gateway", data_dir, workdir / "gateway.log")
    try:
        started = time.perf_counter()
        _onboard(server.url, orgs)
        onboarding_s = time.perf_counter() - started
        token = _token(data_dir)
        schedule_time = iso(utcnow())
        tick_s, report = _tick(server.url, token, "bench-fanout", schedule_time)
        repeats = [_tick(server.url, token, "bench-fanout", schedule_time) for _ in range(repeat_rounds)]
    finally:
        peak_rss_mb = server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    created = int(report["runs_created"])
    result = {
        "orgs": orgs,
        "tick_s": tick_s,
        "runs_created": created,
        "runs_per_s": created / tick_s if tick_s else float("nan"),
        "per_org_ms": tick_s / orgs * 1000,
        "failures": len(report["failures"]),
        "repeat_tick_s": median([seconds for seconds, _ in repeats]),
        "repeat_duplicates": int(repeats[-1][1]["duplicates"]) if repeats else 0,
        "repeat_runs_created": int(repeats[-1][1]["runs_created"]) if repeats else 0,
        "onboarding_s": onboarding_s,
        "peak_rss_mb": peak_rss_mb,
        "delivery": "off: the tick's runs stay queued (PENDING)",
    }
    say(
        f"  {orgs:,} orgs: tick {tick_s * 1000:,.0f} ms for {created:,} runs ({result['runs_per_s']:,.0f} runs/s);"
        f" repeated tick {result['repeat_tick_s'] * 1000:,.0f} ms ({result['repeat_duplicates']:,} duplicates)"
    )
    return result
