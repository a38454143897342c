"""One local stack per data folder: an exclusive advisory lock on ``{data_dir}/cloudact.lock``.

``serve`` (and the demo) hold it for as long as they run and write their PID and URL into the file,
so another process can tell who holds the folder and reach it through its API instead of opening
the DuckDB file that process owns. Offline tools (``import-export``, ``generate-export``) hold it
while they write. The lock is the operating system's (``flock``): it ends with its process, so a
killed ``serve`` never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from shared.errors import CloudActError

LOCK_FILE = "cloudact.lock"


class FolderBusy(CloudActError):
    code = "folder_busy"

    def __init__(self, data_dir: Path, holder: dict[str, Any]) -> None:
        who = f"{holder.get('command', 'another cloudact process')} (PID {holder.get('pid', '?')})"
        super().__init__(f"the data folder {data_dir} is in use by {who}")
        self.holder = holder


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        info = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


class FolderLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self, command: str, url: str | None = None) -> FolderLock:
        """Takes the lock or raises ``FolderBusy`` naming the holder."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise FolderBusy(self.data_dir, holder) from None
        self._handle = handle
        self.describe(command, url)
        return self

    def describe(self, command: str, url: str | None = None) -> None:
        """What the holder is: read by whoever finds the folder busy."""
        assert self._handle is not None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps({"pid": os.getpid(), "command": command, "url": url}))
        self._handle.flush()

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def holder(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the folder (``pid``, ``command``, ``url``), or None if nobody does."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def acquire_waiting(data_dir: Path, command: str, say: Callable[[str], None], timeout_s: float = 120) -> FolderLock:
    """Takes the lock, waiting (and saying so) while a short-lived tool holds it. A running ``serve``
    is not waited for: the caller is told (``FolderBusy``) and goes through its API instead."""
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        try:
            return FolderLock(data_dir).acquire(command)
        except FolderBusy as busy:
            if busy.holder.get("url") or time.monotonic() > deadline:
                raise
            if not announced:
                say(f"waiting for {busy.message.removeprefix(f'the data folder {data_dir} is in use by ')} to finish…")
                announced = True
            time.sleep(0.5)
