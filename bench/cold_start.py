"""Section 4: cold start of each function against a bare functions-framework hello-world.

Import: a fresh interpreter loads ``main.py`` exactly as functions-framework does (a module from a
file path) and reports the seconds around that alone. First answer: ``python -m functions_framework
--target X --source ...`` (the production entry point, gunicorn included) is started and polled on
loopback until a real request gets an HTTP answer; measured from just before the process is spawned.
Targets alternate within each round; medians over rounds.

Requests used for the first answer (each the function's real work, on a data directory with one
onboarded org): submit POST a run (202), status GET that org's run (200), admin GET the org's key list
(200), execute a Pub/Sub CloudEvent for an unknown run (acknowledged and dropped: running a real
pipeline would time the query, not the start), hello GET / (200).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    ADMIN_KEY,
    PROJECT_ROOT,
    ServerChild,
    child_env,
    free_port,
    median,
    onboard_with_a_run,
    paired_ratio,
)

FUNCTIONS = ("submit", "status", "admin", "execute")
BASELINE = "hello"
ORG = "coldorg"
IMPORT_SNIPPET = """
import importlib.util, sys, time
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", path)
module = importlib.util.module_from_spec(spec)
sys.path.append(str(__import__("pathlib").Path(path).parent))
spec.loader.exec_module(module)
print(time.perf_counter() - started)
"""


def source_of(target: str) -> Path:
    if target == BASELINE:
        return PROJECT_ROOT / "bench" / "hello" / "main.py"
    return PROJECT_ROOT / "functions" / target / "main.py"


def signature_of(target: str) -> str:
    return "cloudevent" if target == "execute" else "http"


def import_seconds(target: str, env: dict[str, str]) -> float:
    output = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
        [sys.executable, "-c", IMPORT_SNIPPET, str(source_of(target))],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def _top_level_import_costs(code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    stderr = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
        [sys.executable, "-X", "importtime", "-c", code, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    costs: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        # no indentation: imported at the top level, so its cumulative time is its whole subtree
        if match and match.group(2) == "":
            costs[match.group(3)] = costs.get(match.group(3), 0.0) + int(match.group(1)) / 1000
    return costs


def top_imports(target: str, env: dict[str, str], count: int = 5) -> list[tuple[str, float]]:
    """The top-level modules that cost ``main.py`` the most to import (``-X importtime``), in ms;
    what the interpreter imports at start-up (``site``, ``encodings``...) is left out."""
    startup = _top_level_import_costs("pass", [], env)
    costs = _top_level_import_costs(IMPORT_SNIPPET, [str(source_of(target))], env)
    ranked = sorted(((name, ms) for name, ms in costs.items() if name not in startup), key=lambda item: -item[1])
    return [(name, round(ms, 1)) for name, ms in ranked[:count]]


@dataclass
class Fixture:
    """A data directory with one org, its integration and one PENDING run."""

    data_dir: Path
    api_key: str
    run_id: str

    @classmethod
    def create(cls, workdir: Path) -> Fixture:
        data_dir = workdir / "data"
        server = ServerChild.start("gateway", data_dir, workdir / "fixture.log")
        try:
            api_key, run_id = onboard_with_a_run(server.url, ORG, "2010-01-01")
        finally:
            server.stop()
        return cls(data_dir, api_key, run_id)

    def request_for(self, target: str, attempt: int) -> tuple[str, str, dict[str, str], bytes | None]:
        """(method, path, headers, body) of the first request for ``target``."""
        if target == "submit":
            day = date(2011, 1, 1) + timedelta(days=attempt)  # a new day each time: no 409
            body = json.dumps({"date": day.isoformat()}).encode()
            headers = {"X-API-Key": self.api_key, "Content-Type": "application/json"}
            return "POST", f"/api/v1/pipelines/run/{ORG}/gcp/cost/billing", headers, body
        if target == "status":
            return "GET", f"/api/v1/pipelines/runs/{self.run_id}", {"X-API-Key": self.api_key}, None
        if target == "admin":
            return "GET", f"/api/v1/admin/orgs/{ORG}/api-keys", {"X-Admin-Key": ADMIN_KEY}, None
        if target == "execute":
            message = {
                "run_id": "00000000-0000-4000-8000-000000000000",
                "org_slug": ORG,
                "provider": "gcp",
                "domain": "cost",
                "pipeline": "billing",
                "parameters": {},
                "trigger": "api",
                "requested_at": "2026-01-01T00:00:00.000Z",
                "attempt": 1,
            }
            event = {
                "message": {"data": base64.b64encode(json.dumps(message).encode()).decode(), "messageId": "1"},
                "subscription": "projects/cloudact-local/subscriptions/pipeline-runs-execute",
            }
            headers = {
                "ce-specversion": "1.0",
                "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                "ce-source": "//pubsub.googleapis.com/projects/cloudact-local/topics/pipeline-runs",
                "ce-id": f"cold-{attempt}",
                "Content-Type": "application/json",
            }
            return "POST", "/", headers, json.dumps(event).encode()
        return "GET", "/", {}, None


def first_answer_seconds(target: str, fixture: Fixture, attempt: int, timeout_s: float = 60) -> tuple[float, int]:
    """Seconds from spawning the server to the first HTTP answer, and that answer's status."""
    port = free_port()
    method, path, headers, body = fixture.request_for(target, attempt)
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--target",
        target,
        "--source",
        str(source_of(target)),
        "--signature-type",
        signature_of(target),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, functions-framework's own CLI
        command,
        cwd=PROJECT_ROOT,
        env=child_env(fixture.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if time.perf_counter() - started > timeout_s or process.poll() is not None:
                raise RuntimeError(f"{target} did not answer within {timeout_s}s (exit code {process.poll()})")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
            try:
                connection.request(method, path, body=body, headers=headers)
                status = connection.getresponse().status
                return time.perf_counter() - started, status
            except ConnectionRefusedError:
                time.sleep(0.002)  # not listening yet
            finally:
                connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(rounds: int, cache_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    workdir = cache_dir / "work" / "cold-start"
    shutil.rmtree(workdir, ignore_errors=True)
    fixture = Fixture.create(workdir)
    env = child_env(fixture.data_dir)
    targets = (BASELINE, *FUNCTIONS)
    imports: dict[str, list[float]] = {target: [] for target in targets}
    answers: dict[str, list[float]] = {target: [] for target in targets}
    statuses: dict[str, set[int]] = {target: set() for target in targets}
    for attempt in range(rounds):
        for target in targets:
            imports[target].append(import_seconds(target, env))
            seconds, status = first_answer_seconds(target, fixture, attempt)
            answers[target].append(seconds)
            statuses[target].add(status)
    baseline_import, baseline_answer = median(imports[BASELINE]), median(answers[BASELINE])
    results: dict[str, Any] = {
        "rounds": rounds,
        "baseline": {"import_s": baseline_import, "first_answer_s": baseline_answer},
        "functions": {},
    }
    for target in FUNCTIONS:
        entry = {
            "import_s": median(imports[target]),
            "import_ratio": paired_ratio(imports[target], imports[BASELINE]),
            "first_answer_s": median(answers[target]),
            "first_answer_ratio": paired_ratio(answers[target], answers[BASELINE]),
            "first_answer_statuses": sorted(statuses[target]),
            "top_imports_ms": top_imports(target, env),
            "samples": {"import_s": imports[target], "first_answer_s": answers[target]},
        }
        results["functions"][target] = entry
        say(
            f"  {target:<8} import {entry['import_s'] * 1000:6.1f} ms ({entry['import_ratio']:.2f}x)"
            f"  first answer {entry['first_answer_s'] * 1000:6.0f} ms ({entry['first_answer_ratio']:.2f}x)"
            f"  HTTP {','.join(map(str, entry['first_answer_statuses']))}"
        )
    results["baseline"]["top_imports_ms"] = top_imports(BASELINE, env)
    results["baseline"]["samples"] = {"import_s": imports[BASELINE], "first_answer_s": answers[BASELINE]}
    shutil.rmtree(workdir, ignore_errors=True)
    return results
