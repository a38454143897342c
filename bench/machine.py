"""What machine and software the figures came from."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("duckdb", "sqlglot", "functions-framework", "werkzeug", "dlt", "pyarrow")


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    mem_kib = _first("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem_kib.split()[0]) / 2**20, 1) if mem_kib else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {package: _version(package) for package in PACKAGES},
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        # other people's work on the same 2 cores shows up here: read it next to the figures
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }
