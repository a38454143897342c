"""``cloudact focus-export``: an org's FOCUS rows into a file, through the API.

Through the API rather than the warehouse file: the running stack holds the DuckDB file open (one
writer process at a time), the org key keeps the export within its org as the HTTP route does, and
the same command works against a deployment (``--url``).
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

import click

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


@click.command("focus-export")
@click.argument("org")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First charge day (YYYY-MM-DD).")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last charge day, included.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="A .parquet or .csv file.")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar="CLOUDACT_URL")
@click.option("--api-key", envvar="CLOUDACT_API_KEY", help="The org's API key (or CLOUDACT_API_KEY).")
def focus_export(org: str, start: datetime, end: datetime, out: Path, url: str, api_key: str | None) -> None:
    """Export ORG's FOCUS 1.2 rows charged from --start to --end (Parquet keeps decimal types)."""
    if not api_key:
        raise click.UsageError("an org API key is needed: --api-key or CLOUDACT_API_KEY")
    if out.suffix.lower() not in MEDIA_TYPES:
        raise click.BadParameter("must end in .csv or .parquet", param_hint="--out")
    try:
        size = download(url, api_key, org, start.date(), end.date(), out)
    except ExportError as exc:
        click.echo(json.dumps(exc.body, indent=2) if not isinstance(exc.body, str) else exc.body, err=True)
        sys.exit(1)
    except urllib.error.URLError as exc:
        click.echo(f"No API at {url}: {exc.reason} (start it with `cloudact serve`)", err=True)
        sys.exit(1)
    click.echo(f"{out}: {size:,} bytes")
