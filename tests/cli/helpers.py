"""A real ``cloudact serve`` in a subprocess on a free loopback port, and the CLI run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.settings import PROJECT_ROOT

CLOUDACT = str(Path(sys.executable).parent / "cloudact")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(data_dir: Path, port: int | None = None, **extra: str) -> dict[str, str]:
    """The user's environment: none of the test process's CLOUDACT_* settings, the venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDACT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CLOUDACT_DATA_DIR"] = str(data_dir)
    if port is not None:
        env["CLOUDACT_PORT"] = str(port)
        env["CLOUDACT_URL"] = f"http://127.0.0.1:{port}"
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLOUDACT, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str, str]:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=timeout)
        return self.process.returncode, *self.output()

    def output(self) -> tuple[str, str]:
        return (self.log_dir / "serve.out").read_text(), (self.log_dir / "serve.err").read_text()


def wait_healthy(served: Served, timeout: float = 60) -> None:
    url, process = served.url, served.process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {served.output()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if json.loads(response.read()).get("status") == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become healthy")


@contextmanager
def serving(data_dir: Path, command: str = "cloudact serve") -> Iterator[Served]:
    """Runs ``command`` (a shell line) in its own process group; stops the group at the end."""
    port = free_port()
    env = clean_env(data_dir, port)
    # files, not pipes: nobody reads a pipe while the server runs, and a full one would block it
    log_dir = Path(tempfile.mkdtemp(prefix="serve-logs-"))
    with (log_dir / "serve.out").open("w") as out, (log_dir / "serve.err").open("w") as err:
        process = subprocess.Popen(
            ["bash", "-c", command],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    served = Served(process, port, env, log_dir)
    try:
        wait_healthy(served)
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        shutil.rmtree(log_dir, ignore_errors=True)
