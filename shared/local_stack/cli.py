"""``cloudact``: the command line of the local stack (serve, demo) and of an API user (run, status, runs)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:8080"


def _print_json(body: Any) -> None:
    click.echo(json.dumps(body, indent=2, default=str))


def _client(url: str, api_key: str | None) -> Any:
    from shared.local_stack.client import ApiClient

    if not api_key:
        raise click.UsageError("an org API key is needed: --api-key or CLOUDACT_API_KEY")
    return ApiClient(url, api_key=api_key)


def _call(action: Any) -> Any:
    from shared.local_stack.client import ApiError

    try:
        return action()
    except ApiError as exc:
        _print_json(exc.body)
        sys.exit(1)


@click.group()
@click.option(
    "--data-dir",
    envvar="CLOUDACT_DATA_DIR",
    type=click.Path(path_type=Path),
    default=".cloudact",
    show_default=True,
    help="Where the local stack keeps every file.",
)
def main(data_dir: Path) -> None:
    """CloudAct Pipelines: FinOps data pipelines, on Google Cloud or on this machine."""
    os.environ["CLOUDACT_DATA_DIR"] = str(data_dir)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve every HTTP route and deliver queued runs to the execute function."""
    from shared.local_stack.server import LocalStack
    from shared.services.auth import admin_key
    from shared.settings import get_settings

    settings = get_settings()
    admin_key(settings)  # created now so its file exists for the operator
    stack = LocalStack(host, port).start()
    click.echo(
        f"serving on {stack.url}  (data: {settings.data_dir}; admin key file: {settings.data_dir / 'admin.key'})"
    )
    try:
        stack.wait()
    except KeyboardInterrupt:
        stack.stop()


@main.command()
@click.option("--rows", default=300_000, show_default=True, help="Rows in the synthetic billing export.")
@click.option("--days", default=30, show_default=True, help="Days the export spans (ending yesterday).")
@click.option("--keep", is_flag=True, help="Keep an earlier demo's data directory instead of starting afresh.")
@click.option("--verbose", is_flag=True, help="Also show the services' logs (JSON lines) and each HTTP request.")
def demo(rows: int, days: int, keep: bool, verbose: bool) -> None:
    """From nothing to a COMPLETE run, checked against the source. Exits 0 only if it is."""
    import logging

    from shared import runtime
    from shared.adapters.local.warehouse import DuckDBWarehouse
    from shared.local_stack import billing_export
    from shared.local_stack.demo import run_demo
    from shared.local_stack.server import LocalStack
    from shared.services.auth import admin_key
    from shared.settings import get_settings

    if not verbose:  # the story is told on stdout; warnings and errors still reach stderr
        from shared.logs import configure

        configure()  # first, so the level set below is not reset when a module asks for its logger
        logging.getLogger("cloudact").setLevel(logging.WARNING)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = get_settings()
    if settings.data_dir.exists() and not keep:
        shutil.rmtree(settings.data_dir)
    click.echo(f"CloudAct demo on the embedded stack (data in {settings.data_dir})")
    with LocalStack(port=0) as stack:
        click.echo(f"local stack serving on {stack.url}")
        warehouse = runtime.backend().warehouses.platform()
        assert isinstance(warehouse, DuckDBWarehouse)
        spec = billing_export.ExportSpec(rows=rows, days=days, end_date=date.today() - timedelta(days=1))
        ok = run_demo(stack.url, admin_key(settings), warehouse, spec, say=click.echo)
    click.echo("DEMO PASSED" if ok else "DEMO FAILED")
    sys.exit(0 if ok else 1)


@main.command("create-org")
@click.argument("org_slug")
@click.option("--name")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
def create_org(org_slug: str, name: str | None, url: str) -> None:
    """Onboard an org with the local admin key; prints its API key once."""
    from shared.local_stack.client import ApiClient
    from shared.services.auth import admin_key
    from shared.settings import get_settings

    client = ApiClient(url, admin_key=admin_key(get_settings()))
    body = {"org_slug": org_slug, **({"name": name} if name else {})}
    _print_json(_call(lambda: client.request("POST", "/api/v1/admin/orgs", body)))


@main.command("generate-export")
@click.option("--table", default=None, help="project.dataset.table (default: the demo's)")
@click.option("--rows", default=300_000, show_default=True)
@click.option("--days", default=30, show_default=True)
def generate_export(table: str | None, rows: int, days: int) -> None:
    """Write a synthetic billing export into the local warehouse (stop `serve` first: DuckDB allows one writer)."""
    from shared import runtime
    from shared.local_stack import billing_export

    spec = billing_export.ExportSpec(table_id=table or billing_export.DEFAULT_TABLE, rows=rows, days=days)
    warehouse = runtime.backend().warehouses.platform()
    click.echo(billing_export.generate(warehouse, spec))  # type: ignore[arg-type]


@main.command()
@click.argument("org_slug")
@click.argument("pipeline", default="gcp/cost/billing")
@click.option("--date", "day", help="YYYY-MM-DD (default: the pipeline's, yesterday)")
@click.option("--force-refresh", is_flag=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the run until it ends.")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
@click.option("--api-key", envvar="CLOUDACT_API_KEY")
def run(
    org_slug: str, pipeline: str, day: str | None, force_refresh: bool, wait: bool, url: str, api_key: str | None
) -> None:
    """Trigger PIPELINE (provider/domain/name) for ORG_SLUG."""
    from shared.local_stack.demo import follow

    client = _client(url, api_key)
    params: dict[str, Any] = {"force_refresh": force_refresh}
    if day:
        params["date"] = day
    accepted = _call(lambda: client.run_pipeline(org_slug, pipeline, params))
    _print_json(accepted)
    if wait:
        final = follow(client, accepted["pipeline_logging_id"], click.echo)
        _print_json(final)
        sys.exit(0 if final["status"] == "COMPLETE" else 1)


@main.group()
def schedule() -> None:
    """What Cloud Scheduler does in production."""


@schedule.command("tick")
@click.option("--pipeline", default=None, help="provider/domain/name (default: every scheduled pipeline)")
@click.option("--at", "at", default=None, help="RFC 3339 firing time (default: now)")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
def schedule_tick(pipeline: str | None, at: str | None, url: str) -> None:
    """Fire a scheduler tick against a running local stack, with a locally signed token."""
    from shared import runtime
    from shared.domain.runs import iso, utcnow
    from shared.local_stack.client import ApiClient

    token = runtime.local_scheduler_token()
    client = ApiClient(
        url,
        bearer=token,
        headers={"X-CloudScheduler-JobName": "cli", "X-CloudScheduler-ScheduleTime": at or iso(utcnow())},
    )
    _print_json(
        _call(lambda: client.request("POST", "/api/v1/scheduler/tick", {"pipeline": pipeline} if pipeline else {}))
    )


@main.command()
@click.argument("org_slug")
@click.argument("pipeline", default="gcp/cost/billing")
@click.option("--start", "start", required=True, help="first day, YYYY-MM-DD")
@click.option("--end", "end", required=True, help="last day, YYYY-MM-DD")
@click.option("--force-refresh", is_flag=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until every day is done.")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
@click.option("--api-key", envvar="CLOUDACT_API_KEY")
def backfill(
    org_slug: str, pipeline: str, start: str, end: str, force_refresh: bool, wait: bool, url: str, api_key: str | None
) -> None:
    """Load every day from --start to --end, one run per day, and follow them."""
    import time

    client = _client(url, api_key)
    body = {"start_date": start, "end_date": end, "force_refresh": force_refresh}
    accepted = _call(lambda: client.request("POST", f"/api/v1/pipelines/backfill/{org_slug}/{pipeline}", body))
    click.echo(
        f"backfill {accepted['backfill_id']}: {len(accepted['runs'])} runs queued"
        + (f", {len(accepted['already_active'])} days already running" if accepted["already_active"] else "")
    )
    if not wait:
        return
    with click.progressbar(length=len(accepted["runs"]), label="days done") as bar:
        done = 0
        while True:
            progress = _call(lambda: client.request("GET", f"/api/v1/pipelines/backfills/{accepted['backfill_id']}"))
            finished = progress["counts"]["COMPLETE"] + progress["counts"]["FAILED"]
            bar.update(finished - done)
            done = finished
            if progress["done"]:
                break
            time.sleep(0.5)
    click.echo(json.dumps(progress["counts"]))
    sys.exit(0 if progress["counts"]["FAILED"] == 0 else 1)


@main.command()
@click.argument("run_id")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
@click.option("--api-key", envvar="CLOUDACT_API_KEY")
def status(run_id: str, url: str, api_key: str | None) -> None:
    """Show one run."""
    client = _client(url, api_key)
    _print_json(_call(lambda: client.get_run(run_id)))


@main.command()
@click.option("--status", "state", type=click.Choice(["PENDING", "RUNNING", "COMPLETE", "FAILED"]))
@click.option("--pipeline-id")
@click.option("--limit", default=20, show_default=True)
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL")
@click.option("--api-key", envvar="CLOUDACT_API_KEY")
def runs(state: str | None, pipeline_id: str | None, limit: int, url: str, api_key: str | None) -> None:
    """List the org's runs, newest first."""
    from urllib.parse import urlencode

    client = _client(url, api_key)
    query = {k: v for k, v in {"status": state, "pipeline_id": pipeline_id, "page_size": limit}.items() if v}
    page = _call(lambda: client.request("GET", "/api/v1/pipelines/runs?" + urlencode(query)))
    for item in page["runs"]:
        click.echo(
            f"{item['requested_at']}  {item['status']:<8}  {item['pipeline_logging_id']}  "
            f"{item['pipeline_id']}  {json.dumps(item['parameters'])}  rows={item['rows_processed']}"
        )


def _add_focus_export() -> None:
    # its own module: the command and its download are reused by the demo
    from shared.local_stack.focus_cli import focus_export

    main.add_command(focus_export)


_add_focus_export()
