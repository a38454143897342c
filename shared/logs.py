"""Structured logs in Cloud Logging's JSON format: one object per line on stderr.

``severity`` and ``message`` are the fields Cloud Logging reads; ``run_id``, ``org_slug``,
``pipeline`` and ``step`` let one filter a run's whole story by its id. Callers pass only those
context fields, never credentials.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

CONTEXT_FIELDS = ("run_id", "org_slug", "pipeline", "step", "attempt", "duration_ms", "rows")
_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: a message or traceback could carry request data.
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure() -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("cloudact")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = True
    _configured = True


def get_logger(name: str) -> logging.Logger:
    configure()
    return logging.getLogger(f"cloudact.{name}")
