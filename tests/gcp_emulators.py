"""Google's emulators on loopback, for the production adapters' tests.

- Pub/Sub and Firestore: Google's official emulators from the gcloud SDK (each a Java process
  under a gcloud launcher).
- BigQuery: ``bqemulator`` (PyPI; DuckDB-backed, speaks BigQuery's REST API). It pins an older
  sqlglot than the project needs (its ``sqlglot<30.12`` emits DuckDB's removed ``->`` lambda), so it
  lives in a virtualenv of its own, created here on first use, outside the repository.

Each emulator is started once per test session, on a free loopback port, in its own process group
(so the Java child goes down with its launcher), waited for with a timeout, and stopped at the end
of the session. One that does not come up makes the tests that need it error, never skip.

Tests reach the emulators' admin surfaces (creating topics and subscriptions, pulling) over their
REST APIs with ``requests``: nothing outside ``shared/adapters/gcp`` imports ``google.cloud``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

STARTUP_TIMEOUT_S = 90.0
"""Java emulators start in 1-5 s here; the margin is for a busy two-core machine."""

BQEMULATOR_REQUIREMENTS = ("bqemulator==1.4.0", "numpy>=1.26")
BQEMULATOR_VENV = Path(
    os.environ.get("CLOUDACT_BQEMULATOR_VENV") or Path.home() / ".cache" / "cloudact" / "bqemulator-1.4.0"
)

# bqemulator loads DuckDB's spatial extension at start-up and refuses to run without it; the
# extension is downloaded from DuckDB's servers, which this machine cannot reach. GEOGRAPHY is not
# used by anything under test, so the loader becomes a no-op.
BQEMULATOR_LAUNCHER = """
import sys
from bqemulator.storage.engine import DuckDBEngine
DuckDBEngine._load_spatial = lambda self: None
from bqemulator.cli import main
sys.exit(main())
"""

GCLOUD_ENV = {
    # gcloud must not try the network (update checks, usage reports) or ask anything
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
}


class EmulatorFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique_project() -> str:
    """A fresh project id per test: every emulator keeps projects apart, so tests never share data."""
    return f"cloudact-t{uuid.uuid4().hex[:12]}"


@dataclass
class Emulator:
    name: str
    host_port: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # the launcher may be gone while its Java child lingers in the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _start(name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the Java child is stopped with it
            env={**os.environ, **GCLOUD_ENV, **(env or {})},
        )


def _wait_ready(emulator: Emulator, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorFailed(f"{emulator.name} exited with {emulator.process.returncode}:\n{emulator.log_tail()}")
        try:
            with urllib.request.urlopen(emulator.url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    emulator.stop()
    raise EmulatorFailed(f"{emulator.name} not ready after {STARTUP_TIMEOUT_S:.0f}s:\n{emulator.log_tail()}")


def _gcloud() -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorFailed("gcloud is not on PATH: the Pub/Sub and Firestore emulators come with the gcloud SDK")
    return gcloud


def start_pubsub(log_dir: Path) -> Emulator:
    host_port = f"127.0.0.1:{free_port()}"
    data_dir = log_dir / "pubsub-data"
    data_dir.mkdir(exist_ok=True)
    command = [_gcloud(), "beta", "emulators", "pubsub", "start", f"--host-port={host_port}", f"--data-dir={data_dir}"]
    emulator = Emulator("pubsub", host_port, _start("pubsub", command, log_dir), log_dir / "pubsub.log")
    _wait_ready(emulator, "/")
    return emulator


def start_firestore(log_dir: Path) -> Emulator:
    host_port = f"127.0.0.1:{free_port()}"
    command = [_gcloud(), "emulators", "firestore", "start", f"--host-port={host_port}"]
    emulator = Emulator("firestore", host_port, _start("firestore", command, log_dir), log_dir / "firestore.log")
    _wait_ready(emulator, "/")
    return emulator


def bqemulator_python() -> Path:
    """The bqemulator virtualenv's interpreter; the virtualenv is created on first use."""
    python = BQEMULATOR_VENV / "bin" / "python"
    ready = BQEMULATOR_VENV / ".installed"
    if ready.exists():
        return python
    BQEMULATOR_VENV.parent.mkdir(parents=True, exist_ok=True)
    # two test runs at once (two engineers, CI) must not build it twice into the same folder
    with (BQEMULATOR_VENV.parent / ".bqemulator.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            print(f"installing {' '.join(BQEMULATOR_REQUIREMENTS)} into {BQEMULATOR_VENV}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(BQEMULATOR_VENV)], check=True)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *BQEMULATOR_REQUIREMENTS,
                ],
                check=True,
            )
            ready.touch()
    return python


def start_bigquery(log_dir: Path) -> Emulator:
    rest_port, grpc_port = free_port(), free_port()
    command = [
        str(bqemulator_python()),
        "-c",
        BQEMULATOR_LAUNCHER,
        "start",
        "--rest-port",
        str(rest_port),
        "--grpc-port",
        str(grpc_port),
        "--ephemeral",
        "--log-level",
        "warning",
    ]
    # its optional Avro extension would also be downloaded at start: not needed, and not reachable
    env = {"BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}
    emulator = Emulator(
        "bigquery", f"127.0.0.1:{rest_port}", _start("bigquery", command, log_dir, env), log_dir / "bigquery.log"
    )
    _wait_ready(emulator, "/bigquery/v2/projects/cloudact-probe/datasets")
    return emulator


class Emulators:
    """The session's emulators, each started on first request and stopped by ``stop_all``.

    A module-level registry rather than one fixture definition, so that fixtures declared in more
    than one place (the contract suites' conftest, the end-to-end module) share one process each.
    """

    def __init__(self) -> None:
        self._running: dict[str, Emulator] = {}
        self._lock = threading.Lock()
        self._log_dir: Path | None = None

    def get(self, name: str, log_dir: Path) -> Emulator:
        with self._lock:
            if name not in self._running:
                self._log_dir = self._log_dir or log_dir
                starter = {"pubsub": start_pubsub, "firestore": start_firestore, "bigquery": start_bigquery}[name]
                self._running[name] = starter(self._log_dir)
            return self._running[name]

    def stop(self, name: str) -> None:
        with self._lock:
            emulator = self._running.pop(name, None)
        if emulator is not None:
            emulator.stop()

    def stop_all(self) -> None:
        for name in list(self._running):
            self.stop(name)


EMULATORS = Emulators()
atexit.register(EMULATORS.stop_all)  # a session that dies before its fixtures' teardown leaves none behind


def _stop_all_then_default(signum: int, frame: object) -> None:
    # a terminated test run (a CI time-out, a ^C'd shell) skips fixture teardown and atexit: stop
    # the emulators here, then die of the signal as if this handler were not there
    EMULATORS.stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _stop_all_then_default)


@contextlib.contextmanager
def session_emulator(name: str, log_dir: Path) -> Iterator[Emulator]:
    """For a session-scoped fixture: the emulator, stopped when the session ends."""
    try:
        yield EMULATORS.get(name, log_dir)
    finally:
        EMULATORS.stop(name)


# -- the emulators' admin surfaces, over REST --------------------------------------------------
def pubsub_create_topic(emulator: Emulator, project: str, topic: str) -> None:
    response = requests.put(f"{emulator.url}/v1/projects/{project}/topics/{topic}", timeout=10)
    response.raise_for_status()


def pubsub_create_subscription(
    emulator: Emulator, project: str, topic: str, subscription: str, push_endpoint: str | None = None
) -> None:
    body: dict[str, Any] = {"topic": f"projects/{project}/topics/{topic}", "ackDeadlineSeconds": 60}
    if push_endpoint:
        body["pushConfig"] = {"pushEndpoint": push_endpoint}
    response = requests.put(f"{emulator.url}/v1/projects/{project}/subscriptions/{subscription}", json=body, timeout=10)
    response.raise_for_status()


def pubsub_pull(
    emulator: Emulator, project: str, subscription: str, expected: int, timeout_s: float = 10.0
) -> list[dict[str, object]]:
    """Pulls (and acknowledges) until ``expected`` messages arrived or the time is up."""
    url = f"{emulator.url}/v1/projects/{project}/subscriptions/{subscription}"
    received: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout_s
    while len(received) < expected and time.monotonic() < deadline:
        response = requests.post(f"{url}:pull", json={"maxMessages": 100, "returnImmediately": True}, timeout=10)
        response.raise_for_status()
        batch = response.json().get("receivedMessages", [])
        if batch:
            ack_ids = [item["ackId"] for item in batch]
            requests.post(f"{url}:acknowledge", json={"ackIds": ack_ids}, timeout=10).raise_for_status()
            received += [item["message"] for item in batch]
        else:
            time.sleep(0.05)
    return received
