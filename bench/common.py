"""What every benchmark section shares: child processes, HTTP on loopback, and summary statistics."""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-0123456789abcdef"


def child_env(data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of every child: this checkout first on the path (so a scratch copy of the
    project benchmarks its own code, not the editable install's), the embedded backend, a known
    admin key, no retry backoff."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["CLOUDACT_BACKEND"] = "local"
    env["CLOUDACT_ADMIN_KEY"] = ADMIN_KEY
    env["CLOUDACT_RETRY_MIN_BACKOFF_S"] = "0"
    env["CLOUDACT_RETRY_MAX_BACKOFF_S"] = "0"
    if data_dir is not None:
        env["CLOUDACT_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of per-round ratios. Both sides of a round ran back to back, so a burst of load
    from other work on the machine falls on both; a ratio of medians would mix different rounds."""
    return median([ratio(n, d) for n, d in zip(numerators, denominators, strict=True)])


def _proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb(pid: int) -> float:
    """Resident memory of a live process now (Linux ``/proc``, like the rest of the harness)."""
    return _proc_status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a live process since it exec'd its program (``VmHWM``).

    Not ``ru_maxrss`` (from ``getrusage(RUSAGE_CHILDREN)`` or ``wait4``): Linux carries the high-water
    mark of the forked copy of the parent into it across exec, so a child of a parent holding a few
    hundred MiB (a freshly generated export, say) would report the parent's memory as its own.
    """
    return _proc_status_mb(pid, "VmHWM")


class JsonHttp:
    """A keep-alive JSON client on one loopback connection (``http.client``: nothing to install)."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None, timeout_s: float = 60) -> None:
        host_port = base_url.removeprefix("http://").rstrip("/")
        host, _, port = host_port.partition(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
        self.headers = dict(headers or {})

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # the server closed an idle keep-alive connection: one fresh try
            self.connection.close()
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {answer}")
        return answer

    def close(self) -> None:
        self.connection.close()


@dataclass
class ServerChild:
    """A server in its own process (``bench/server_child.py``); stops when its stdin closes."""

    process: subprocess.Popen[str]
    url: str
    log: IO[str]

    @classmethod
    def start(
        cls, mode: str, data_dir: Path, log_path: Path, extra_env: Mapping[str, str] | None = None
    ) -> ServerChild:
        data_dir.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w")
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "bench.server_child", mode],
            cwd=PROJECT_ROOT,
            env=child_env(data_dir, **(extra_env or {})),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=30)
            log.close()
            raise RuntimeError(f"server child ({mode}) exited at start; see {log_path}")
        return cls(process, json.loads(line)["url"], log)

    def stop(self) -> float:
        """Stops the server; returns its peak RSS in MiB (read while it still runs: see ``peak_rss_mb``)."""
        peak = peak_rss_mb(self.process.pid)
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.log.close()
        return peak


def onboard_with_a_run(base_url: str, org: str, day: str) -> tuple[str, str]:
    """Over the API: an org, its GCP integration and one queued run; returns (API key, run id)."""
    from shared.local_stack.billing_export import DEFAULT_TABLE
    from shared.local_stack.demo import fake_service_account

    admin = JsonHttp(base_url, {"X-Admin-Key": ADMIN_KEY})
    api_key: str = admin.ok("POST", "/api/v1/admin/orgs", {"org_slug": org})["api_key"]
    admin.close()
    client = JsonHttp(base_url, {"X-API-Key": api_key})
    client.ok(
        "PUT",
        f"/api/v1/integrations/{org}/gcp",
        {"credential": fake_service_account("acme-billing-export"), "billing_export_table": DEFAULT_TABLE},
    )
    run_id: str = client.ok("POST", f"/api/v1/pipelines/run/{org}/gcp/cost/billing", {"date": day})[
        "pipeline_logging_id"
    ]
    client.close()
    return api_key, run_id
