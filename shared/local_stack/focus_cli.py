"""``cloudact focus-export``: an org's FOCUS rows into a file, through the API.

Through the API rather than the warehouse file: the running stack holds the DuckDB file open (one
writer process at a time), the org key keeps the export within its org as the HTTP route does, and
the same command works against a deployment (``--url``).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

import click

from shared.local_stack.cli import CliError, api_options, emit, main, say

MEDIA_TYPES = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet"}


class ExportError(Exception):
    def __init__(self, status: int, body: object) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def download(base_url: str, api_key: str, org: str, start: date, end: date, out: Path) -> int:
    """Streams the export into ``out`` (its suffix picks the format); returns the bytes written."""
    media_type = MEDIA_TYPES.get(out.suffix.lower())
    if media_type is None:
        raise ValueError(f"{out.name}: the file must end in .csv or .parquet")
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    request = urllib.request.Request(  # noqa: S310 - the API's own URL
        f"{base_url.rstrip('/')}/api/v1/focus/{org}?{query}",
        headers={"Accept": media_type, "X-API-Key": api_key},
    )
    partial = out.with_name(out.name + ".partial")
    try:
        with urllib.request.urlopen(request, timeout=300) as response, partial.open("wb") as file:  # noqa: S310
            shutil.copyfileobj(response, file, 256 * 1024)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        partial.unlink(missing_ok=True)
        raise ExportError(exc.code, body) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)  # a complete file or none: never half an export under the final name
    return out.stat().st_size


@main.command("focus-export")
@click.argument("org")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First charge day (YYYY-MM-DD).")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last charge day, included.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="A .parquet or .csv file.")
@api_options
def focus_export(org: str, start: datetime, end: datetime, out: Path, url: str, api_key: str | None) -> None:
    """Export ORG's FOCUS 1.2 rows charged from --start to --end (Parquet keeps decimal types)."""
    if not api_key:
        raise CliError("an org API key is needed: --api-key or CLOUDACT_API_KEY (create-org prints it)", 2)
    if out.suffix.lower() not in MEDIA_TYPES:
        raise click.BadParameter("must end in .csv or .parquet", param_hint="--out")
    try:
        size = download(url, api_key, org, start.date(), end.date(), out)
    except ExportError as exc:
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        message = error.get("message") or str(exc.body)
        field = f" (field: {error['field']})" if error.get("field") else ""
        body = exc.body if isinstance(exc.body, dict) else None
        raise CliError(f"{message}{field} [HTTP {exc.status}]", 1, body) from None
    except urllib.error.URLError as exc:
        raise CliError(
            f"No API at {url}: {exc.reason}. Is the local stack running? Start it with `cloudact serve`.",
            2,
            {"error": {"code": "server_unreachable", "message": str(exc.reason), "url": url}},
        ) from None
    emit({"file": str(out), "bytes": size}, lambda document: say(f"{document['file']}: {document['bytes']:,} bytes"))
