"""Allow-list patterns for every name that may end up in a path, a table id or a SQL identifier."""

from __future__ import annotations

import re
from datetime import date

from shared.errors import InvalidRequest

ORG_SLUG = re.compile(r"[a-z0-9_]{3,50}")
PATH_SEGMENT = re.compile(r"[a-z][a-z0-9_]{0,62}")
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# BigQuery's own rules: project ids 6-30 chars of lowercase, digits and hyphens; dataset and table
# names of letters, digits and underscores.
GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")
TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")


def check(pattern: re.Pattern[str], value: object, field: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRequest(f"Invalid {field}", field=field)
    return value


def org_slug(value: object) -> str:
    if not isinstance(value, str) or not ORG_SLUG.fullmatch(value):
        raise InvalidRequest("Invalid org_slug: use 3-50 lowercase letters, digits or underscores", field="org_slug")
    return value


def table_id(value: object, field: str = "billing_export_table") -> str:
    """A fully qualified ``project.dataset.table`` id."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 3 or not (
        GCP_PROJECT.fullmatch(parts[0]) and DATASET.fullmatch(parts[1]) and TABLE.fullmatch(parts[2])
    ):
        raise InvalidRequest(f"Invalid {field}: expected project.dataset.table", field=field)
    return str(value)


def iso_date(value: object, field: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidRequest(f"Invalid {field}: expected YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"Invalid {field}: not a calendar date", field=field) from None
