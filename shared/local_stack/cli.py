"""``cloudact``: the command line of the local stack (serve, demo, exports) and of an API user (run, status, runs).

For people and for scripts alike: every command takes ``--json`` (one JSON document on stdout,
progress on stderr); expected conditions end with one line on stderr and an exit code, never a
traceback: 0 done, 1 the thing asked for failed (a run FAILED, the API refused), 2 the environment is
not ready (server not reachable, data folder busy, bad usage).

Adding a command: one function, ``@main.command()``, plus ``@api_options`` when it speaks to the API
(``--url``, ``--api-key``, ``--json``) or ``@json_option`` alone; report with ``say`` (progress) and
``emit`` (the result); raise ``CliError`` for an expected failure.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from shared.errors import CloudActError, ConfigError
from shared.json_input import loads_untrusted

if TYPE_CHECKING:
    from shared.application import Application

DEFAULT_URL = "http://127.0.0.1:8080"
DEMO_DIR = ".cloudact-demo"
DEMO_MARKER = ".created-by-cloudact-demo"
F = TypeVar("F", bound=Callable[..., Any])

_json_output = False


class CliError(Exception):
    """An expected failure: one line for the user, an exit code, and the JSON document for scripts."""

    def __init__(self, message: str, exit_code: int = 1, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.body = body or {"error": {"code": "cli_error", "message": message}}


# -- output ------------------------------------------------------------------------------------
def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    global _json_output
    if value:
        _json_output = True
    return value


def json_option(function: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print one JSON document on stdout (progress goes to stderr).",
    )(function)


def say(text: str) -> None:
    """Progress and explanations: stdout for people, stderr when stdout carries JSON."""
    click.echo(text, err=_json_output)


def emit(document: Any, human: Callable[[Any], None] | None = None) -> None:
    """The command's result: the JSON document with ``--json``, else the human rendering."""
    if _json_output:
        click.echo(json.dumps(document, default=str))
    elif human is not None:
        human(document)
    else:
        click.echo(json.dumps(document, indent=2, default=str))


def api_options(function: F) -> F:
    function = click.option("--api-key", envvar="CLOUDACT_API_KEY", show_envvar=True, help="The org's API key.")(
        function
    )
    function = click.option(
        "--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL", show_envvar=True, help="The API."
    )(function)
    return json_option(function)


def _client(url: str, api_key: str | None) -> Any:
    from shared.local_stack.client import ApiClient

    if not api_key:
        raise CliError("an org API key is needed: --api-key or CLOUDACT_API_KEY (create-org prints it)", 2)
    return ApiClient(url, api_key=api_key)


def _print_json(body: Any) -> None:
    """The result document (kept for commands written before ``emit``)."""
    emit(body)


def _call(action: Callable[[], Any]) -> Any:
    """Kept for commands written before ``Cli.invoke`` turned every API error into one line."""
    return action()


# -- errors ------------------------------------------------------------------------------------
def _fail(error: CliError) -> NoReturn:
    if _json_output:
        click.echo(json.dumps(error.body, default=str))
    click.echo(f"error: {error.message}", err=True)
    sys.exit(error.exit_code)


def _translate(exc: BaseException) -> CliError | None:
    from shared.local_stack.client import ApiError, ServerUnreachable
    from shared.local_stack.folder_lock import FolderBusy

    if isinstance(exc, ServerUnreachable):
        return CliError(
            f"{exc.message}. Is the local stack running? Start it with `cloudact serve` "
            "(or point --url / CLOUDACT_URL at it).",
            2,
            {"error": {"code": "server_unreachable", "message": exc.message, "url": exc.url}},
        )
    if isinstance(exc, ApiError):
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        message = error.get("message") or f"HTTP {exc.http_status}"
        field = f" (field: {error['field']})" if error.get("field") else ""
        return CliError(f"{message}{field} [HTTP {exc.http_status}]", 1, exc.body)
    if isinstance(exc, FolderBusy):
        url = exc.holder.get("url")
        hint = f"; it serves {url}" if url else ""
        return CliError(f"{exc.message}{hint}. Stop it first, or use another --data-dir.", 2, exc.to_body())
    if isinstance(exc, CloudActError):
        return CliError(exc.message, 1, exc.to_body())
    if type(exc).__module__.startswith(("duckdb", "_duckdb")):  # e.g. another program holds the file
        first = str(exc).strip().splitlines()[0]
        return CliError(f"the local warehouse cannot be opened: {first}", 2)
    return None


class Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            _fail(error)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            _fail(translated)


EPILOG = """\b
Environment:
  CLOUDACT_URL       the API the client commands speak to (default http://127.0.0.1:8080)
  CLOUDACT_API_KEY   the org API key of the client commands (create-org prints it)
  CLOUDACT_DATA_DIR  the local stack's folder (default .cloudact)
\b
Exit codes: 0 done, 1 failed (a run FAILED, the API refused), 2 not ready (server down, folder busy, usage).
Shell completion (bash): eval "$(_CLOUDACT_COMPLETE=bash_source cloudact)"  (zsh: zsh_source, fish: fish_source)
"""


@click.group(cls=Cli, epilog=EPILOG)
@click.option(
    "--data-dir",
    envvar="CLOUDACT_DATA_DIR",
    show_envvar=True,
    type=click.Path(path_type=Path, file_okay=False),
    default=".cloudact",
    show_default=True,
    help="Where the local stack keeps every file.",
)
@json_option
@click.version_option(package_name="cloudact-pipelines", prog_name="cloudact")
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """CloudAct Pipelines: FinOps data pipelines, on Google Cloud or on this machine."""
    if ctx.invoked_subcommand == "demo" and ctx.get_parameter_source("data_dir") is click.core.ParameterSource.DEFAULT:
        data_dir = Path(DEMO_DIR)  # never the folder `serve` uses by default
    os.environ["CLOUDACT_DATA_DIR"] = str(data_dir)
    from shared import application
    from shared.settings import Settings

    # the CLI's application, on the folder just chosen: the local stack it starts serves it. One
    # this process already has with the same settings is kept (the CLI invoked in-process).
    settings = Settings.from_env()
    if application.current().settings != settings:
        application.install(application.Application(settings))


def _app() -> Application:
    from shared import application

    return application.current()


def _data_dir() -> Path:
    return _app().settings.data_dir


# -- the local stack ---------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, envvar="CLOUDACT_PORT", show_envvar=True)
@json_option
def serve(host: str, port: int) -> None:
    """Serve every HTTP route and deliver queued runs to the execute function.

    One `serve` per data folder (a second one is refused, naming the first's PID). Ctrl-C or SIGTERM
    stops it cleanly: the run in flight finishes first (a second signal stops at once; the run is then
    delivered again by a later `serve` once its lease, CLOUDACT_RUN_LEASE_S, has expired)."""
    import signal

    from shared.local_stack.folder_lock import FolderLock
    from shared.local_stack.server import LocalStack

    app = _app()
    settings = app.settings
    lock = FolderLock(settings.data_dir).acquire("cloudact serve")
    try:
        app.admin_key()  # created now so its file exists for the operator
        if settings.backend == "local":
            app.local_scheduler_token()  # likewise the scheduler's key, for `schedule tick`
        try:
            stack = LocalStack(host, port)
        except ConfigError as exc:
            raise CliError(f"not starting: {exc.message}", 2) from None
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port", 2) from None
        stack.start()
        lock.describe("cloudact serve", stack.url)
        emit(
            {
                "url": stack.url,
                "data_dir": str(settings.data_dir),
                "admin_key_file": str(settings.data_dir / "admin.key"),
            },
            lambda d: say(f"serving on {d['url']}  (data: {d['data_dir']}; admin key file: {d['admin_key_file']})"),
        )
        if stack.vendors.base_url:
            say(f"OpenAI and Anthropic admin APIs: local fakes on {stack.vendors.base_url}")
        sys.stdout.flush()

        def second_signal(signum: int, frame: Any) -> None:
            say("stopped at once; the unfinished run is delivered again once its lease (CLOUDACT_RUN_LEASE_S) expires")
            os._exit(130)

        def first_signal(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGINT, second_signal)
            signal.signal(signal.SIGTERM, second_signal)
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, first_signal)
        signal.signal(signal.SIGINT, first_signal)
        try:
            stack.wait()
        except KeyboardInterrupt:
            if stack.busy():
                say(f"stopping: run {stack.delivery.in_flight} is finishing first (signal again to stop at once)")
            else:
                say("stopping")
            stack.stop(run_in_flight_timeout_s=None)
            app.close()  # closes the warehouse file cleanly
            say("stopped")
    finally:
        lock.release()


def _demo_folder_ok(folder: Path) -> bool:
    """The demo deletes only a folder it created (its marker), or an earlier demo's default folder that
    holds nothing but the stack's own files."""
    if not folder.exists() or (folder / DEMO_MARKER).exists():
        return True
    contents = {entry.name for entry in folder.iterdir()}
    own = {"warehouse", "state.sqlite", "queue.sqlite", "master-keys", "admin.key", "scheduler.key", "cloudact.lock"}
    own |= {f"{name}-{suffix}" for name in ("state.sqlite", "queue.sqlite") for suffix in ("wal", "shm", "journal")}
    return folder.name == DEMO_DIR and contents <= own


@main.command()
@click.option("--rows", default=300_000, show_default=True, help="Rows in the synthetic billing export.")
@click.option("--days", default=30, show_default=True, help="Days the export spans (ending yesterday).")
@click.option("--keep", is_flag=True, help="Keep an earlier demo's data directory instead of starting afresh.")
@click.option("--verbose", is_flag=True, help="Also show the services' logs (JSON lines) and each HTTP request.")
@json_option
def demo(rows: int, days: int, keep: bool, verbose: bool) -> None:
    """From nothing to a COMPLETE run, checked against the source. Exits 0 only if it is.

    Its data lives in .cloudact-demo unless --data-dir says otherwise; it starts afresh by deleting
    only a folder an earlier demo created."""
    import logging
    import shutil

    from shared.adapters.local.warehouse import DuckDBWarehouse
    from shared.local_stack import billing_export
    from shared.local_stack.demo import run_demo
    from shared.local_stack.folder_lock import FolderLock
    from shared.local_stack.server import LocalStack

    if not verbose:  # the story is told on stdout; warnings and errors still reach stderr
        from shared.logs import configure

        configure()  # first, so the level set below is not reset when a module asks for its logger
        logging.getLogger("cloudact").setLevel(logging.WARNING)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = _app()
    folder = app.settings.data_dir
    if not _demo_folder_ok(folder):  # not even with --keep: the demo writes into the folder it uses
        raise CliError(
            f"{folder} was not created by `cloudact demo`, so the demo will neither use nor delete it: "
            f"run the demo without --data-dir (it uses {DEMO_DIR}) or give it a new folder",
            2,
        )
    if not keep and folder.exists():
        FolderLock(folder).acquire("cloudact demo").release()  # refuses if a serve runs on it
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).write_text("created by `cloudact demo`, which may delete this folder\n")
    with FolderLock(folder).acquire("cloudact demo"):
        say(f"CloudAct demo on the embedded stack (data in {folder})")
        with LocalStack(port=0) as stack:
            say(f"local stack serving on {stack.url}")
            warehouse = app.backend.warehouses.platform()
            assert isinstance(warehouse, DuckDBWarehouse)
            spec = billing_export.ExportSpec(rows=rows, days=days, end_date=date.today() - timedelta(days=1))
            outcome = run_demo(stack.url, app.admin_key(), warehouse, spec, say=say)
        app.close()
    shown = os.path.relpath(folder) if folder.is_relative_to(Path.cwd()) else str(folder)
    result = {"passed": outcome.ok, "data_dir": str(folder), "org_slug": "acmecorp", "api_key": outcome.api_key}

    def human(doc: dict[str, Any]) -> None:
        say("DEMO PASSED" if doc["passed"] else "DEMO FAILED")
        if doc["passed"] and doc["api_key"]:
            say(
                "\nNext: serve the demo's data and query it yourself.\n"
                f"  cloudact --data-dir {shown} serve\n"
                "  open http://127.0.0.1:8080/ and paste the key below: the web console (runs, costs)\n"
                f"  export CLOUDACT_API_KEY={doc['api_key']}   # acmecorp's API key (local to this machine)\n"
                "  curl -s 'http://127.0.0.1:8080/api/v1/pipelines/runs?page_size=5' "
                '-H "X-API-Key: $CLOUDACT_API_KEY"\n'
                "  cloudact runs"
            )

    emit(result, human)
    sys.exit(0 if outcome.ok else 1)


def _admin_client(url: str) -> Any:
    """The admin key of this data folder, never a new one: a key minted here would be unknown to a
    server started on another folder."""
    from shared.local_stack.client import ApiClient

    settings = _app().settings
    key = settings.admin_key
    key_file = settings.data_dir / "admin.key"
    if not key:
        if not key_file.is_file():
            raise CliError(
                f"no admin key in {settings.data_dir}: no `cloudact serve` has used this folder. Pass the "
                f"--data-dir (or CLOUDACT_DATA_DIR) the server at {url} was started with",
                2,
            )
        key = key_file.read_text().strip()
    return ApiClient(url, admin_key=key)


def _admin_call(url: str, action: Callable[[Any], Any]) -> Any:
    from shared.local_stack.client import ApiError

    try:
        return action(_admin_client(url))
    except ApiError as exc:
        if exc.http_status == 401:
            raise CliError(
                f"the server at {url} refused the admin key of {_data_dir()}: it serves another data "
                "folder. Pass the --data-dir (or CLOUDACT_DATA_DIR) it was started with",
                2,
                exc.body,
            ) from None
        raise


@main.command("create-org")
@click.argument("org_slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL", show_envvar=True)
@click.option("-q", "--quiet", is_flag=True, help="Print the API key alone (for $(...) in scripts).")
@json_option
def create_org(org_slug: str, name: str | None, url: str, quiet: bool) -> None:
    """Onboard an org with this data folder's admin key; prints its API key once."""
    body = {"org_slug": org_slug, **({"name": name} if name else {})}
    created = _admin_call(url, lambda client: client.request("POST", "/api/v1/admin/orgs", body))
    if quiet and not _json_output:
        click.echo(created["api_key"])
        return

    def human(doc: dict[str, Any]) -> None:
        say(f"org {doc['org_slug']} created (dataset {doc.get('dataset')}); its API key, shown once:")
        say(f"  export CLOUDACT_API_KEY={doc['api_key']}")

    emit(created, human)


@main.command()
@click.argument("org_slug")
@click.argument("provider", type=click.Choice(["gcp"]))
@click.option("--table", required=True, help="The billing export table: project.dataset.table")
@click.option(
    "--credential-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Service-account key JSON."
)
@click.option(
    "--local-credential",
    is_flag=True,
    help="Store a placeholder marked as local instead of a key: the local stack never uses the key, "
    "and Google's adapters refuse the placeholder.",
)
@api_options
def integrate(
    org_slug: str,
    provider: str,
    table: str,
    credential_file: Path | None,
    local_credential: bool,
    url: str,
    api_key: str | None,
) -> None:
    """Set ORG_SLUG's PROVIDER integration: its billing export table and credential."""
    from shared.domain.integrations import local_placeholder

    if bool(credential_file) == local_credential:
        raise CliError("give exactly one of --credential-file FILE or --local-credential", 2)
    if credential_file:
        try:
            credential: Any = loads_untrusted(credential_file.read_text())
        except ValueError:
            raise CliError(f"{credential_file} is not JSON (expected a service-account key file)", 2) from None
    else:
        credential = local_placeholder(table.split(".")[0])
    client = _client(url, api_key)
    body = {"credential": credential, "billing_export_table": table}
    stored = client.request("PUT", f"/api/v1/integrations/{org_slug}/{provider}", body)

    def human(doc: dict[str, Any]) -> None:
        kind = "a local placeholder credential" if doc.get("local_placeholder") else doc.get("client_email")
        say(f"{provider} integration of {org_slug} stored: table {doc.get('billing_export_table')}, {kind}")

    emit(stored, human)


# -- billing exports into the local warehouse ---------------------------------------------------
def _through_running_stack(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """If a `serve` holds the data folder, ask it (it owns the warehouse file); None otherwise."""
    from shared.local_stack import folder_lock

    holder = folder_lock.holder(_data_dir())
    if not holder or not holder.get("url"):
        return None
    say(f"cloudact serve (PID {holder.get('pid')}) owns {_data_dir()}: loading through it at {holder['url']}")
    result: dict[str, Any] = _admin_call(
        holder["url"], lambda client: client.request("POST", path, body, timeout_s=3600)
    )
    return result


def _offline(action: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Runs ``action`` on the warehouse with the data folder locked (waiting, and saying so, for a
    short-lived tool that holds it)."""
    from shared.local_stack import folder_lock

    app = _app()
    with folder_lock.acquire_waiting(_data_dir(), "cloudact export tool", say):
        try:
            return action(app.backend.warehouses.platform())
        finally:
            app.close()


@main.command("generate-export")
@click.option("--table", default=None, help="project.dataset.table (default: the demo's)")
@click.option("--rows", default=300_000, show_default=True)
@click.option("--days", default=30, show_default=True)
@click.option("--end-date", default=None, help="Last usage day, YYYY-MM-DD (default: yesterday).")
@json_option
def generate_export(table: str | None, rows: int, days: int, end_date: str | None) -> None:
    """Write a synthetic billing export into the local warehouse (through `serve` if it runs)."""
    from shared.domain import identifiers
    from shared.local_stack import billing_export
    from shared.local_stack.local_api import export_summary

    table_id = identifiers.table_id(table or billing_export.DEFAULT_TABLE, "table")
    end = identifiers.iso_date(end_date, "end_date") if end_date else date.today() - timedelta(days=1)
    body = {"table": table_id, "rows": rows, "days": days, "end_date": end.isoformat()}
    spec = billing_export.ExportSpec(table_id=table_id, rows=rows, days=days, end_date=end)

    def offline(warehouse: Any) -> dict[str, Any]:
        billing_export.generate(warehouse, spec)
        return export_summary(spec)

    result = _through_running_stack("/api/v1/local/generate-export", body) or _offline(offline)
    emit(
        result,
        lambda d: say(f"{d['rows_loaded']:,} rows in {d['table']}, usage days {d['first_day']} to {d['last_day']}"),
    )


@main.command("import-export")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", required=True, help="Where to load it: project.dataset.table (the integration's table).")
@click.option("--append", is_flag=True, help="Add the rows to the table (late rows) instead of replacing it.")
@click.option(
    "--format", "file_format", type=click.Choice(["ndjson", "parquet", "avro"]), help="Default: from the name."
)
@json_option
def import_export(file: Path, table: str, append: bool, file_format: str | None) -> None:
    """Load a GCP billing export FILE (newline-delimited JSON as BigQuery exports it, Parquet or Avro) into
    the local warehouse, with the standard export's schema. Works while `serve` runs."""
    from shared.local_stack import export_import

    path = file.resolve()
    body = {"file": str(path), "table": table, "append": append, **({"format": file_format} if file_format else {})}
    result = _through_running_stack("/api/v1/local/import-export", body) or _offline(
        lambda warehouse: export_import.import_file(
            warehouse, path, table, append=append, file_format=file_format
        ).public()
    )

    def human(doc: dict[str, Any]) -> None:
        say(f"{doc['rows_loaded']:,} rows loaded into {doc['table']} ({doc['rows_in_table']:,} in the table)")
        if doc.get("ignored_fields"):
            say(f"ignored (not in the standard export schema): {', '.join(doc['ignored_fields'])}")

    emit(result, human)


# -- runs --------------------------------------------------------------------------------------
def _steps_line(run: dict[str, Any]) -> str:
    marks = {"COMPLETE": "done", "SKIPPED": "skipped", "FAILED": "failed"}
    return ", ".join(
        f"{step['name']} {marks.get(step['status'], step['status'].lower())}" for step in run.get("steps") or []
    )


def _run_summary(run: dict[str, Any]) -> None:
    say(
        f"run {run['pipeline_logging_id']}  {run['pipeline_id']}  {json.dumps(run['parameters'])}\n"
        f"  status {run['status']}  rows {run.get('rows_processed')}  duration {run.get('duration_ms')} ms"
    )
    if run.get("steps"):
        say(f"  steps: {_steps_line(run)}")
    if run.get("skip_reason"):
        say(f"  skipped: {run['skip_reason']}")
    for warning in run.get("warnings") or []:
        say(f"  warning: {warning}")
    if run.get("error_message"):
        say(f"  error: {run['error_message']}")


def follow(client: Any, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    """Polls the status API until the run ends, showing each change (and each step's real state)."""
    import time

    deadline = time.monotonic() + timeout_s
    last, started, last_said = None, time.monotonic(), 0.0
    while True:
        run: dict[str, Any] = client.get_run(run_id)
        elapsed = time.monotonic() - started
        state = (run["status"], _steps_line(run))
        if state != last or elapsed - last_said >= 5:
            steps = f"  ({state[1]})" if state[1] else ""
            say(f"  {elapsed:5.1f}s  {run['status']}{steps}")
            last, last_said = state, elapsed
        if run["status"] in {"COMPLETE", "FAILED"}:
            return run
        if time.monotonic() > deadline:
            raise CliError(
                f"run {run_id} still {run['status']} after {timeout_s:.0f}s; follow it with `cloudact status`"
            )
        time.sleep(0.2)


@main.command()
@click.argument("org_slug")
@click.argument("pipeline", default="gcp/cost/billing")
@click.option("--date", "day", help="YYYY-MM-DD (default: the pipeline's, yesterday)")
@click.option("--force-refresh", is_flag=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the run until it ends.")
@api_options
def run(
    org_slug: str, pipeline: str, day: str | None, force_refresh: bool, wait: bool, url: str, api_key: str | None
) -> None:
    """Trigger PIPELINE (provider/domain/name) for ORG_SLUG."""
    client = _client(url, api_key)
    params: dict[str, Any] = {"force_refresh": force_refresh}
    if day:
        params["date"] = day
    accepted = client.run_pipeline(org_slug, pipeline, params)
    say(f"run {accepted['pipeline_logging_id']} queued: {pipeline} for {org_slug} {json.dumps(accepted['parameters'])}")
    if not wait:
        emit(accepted, lambda _: None)
        return
    final = follow(client, accepted["pipeline_logging_id"])
    emit(final, _run_summary)
    sys.exit(0 if final["status"] == "COMPLETE" else 1)


@main.group()
def schedule() -> None:
    """What Cloud Scheduler does in production."""


def _rfc3339(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from datetime import datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("expected an RFC 3339 time such as 2025-11-25T04:00:00Z") from None
    if moment.tzinfo is None:
        raise click.BadParameter("needs a time zone, e.g. 2025-11-25T04:00:00Z")
    return value


@schedule.command("tick")
@click.option("--pipeline", default=None, help="provider/domain/name (default: every scheduled pipeline)")
@click.option("--at", "at", default=None, callback=_rfc3339, help="RFC 3339 firing time (default: now)")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CLOUDACT_URL", show_envvar=True)
@json_option
def schedule_tick(pipeline: str | None, at: str | None, url: str) -> None:
    """Fire a scheduler tick against a running local stack, with a locally signed token."""
    from shared.domain.runs import iso, utcnow
    from shared.local_stack.client import ApiClient, ApiError

    app = _app()
    settings = app.settings
    if not (settings.data_dir / "scheduler.key").is_file():  # never mint a key the server does not know
        raise CliError(
            f"no scheduler key in {settings.data_dir}: pass the --data-dir (or CLOUDACT_DATA_DIR) "
            f"the server at {url} was started with",
            2,
        )
    token = app.local_scheduler_token()
    client = ApiClient(
        url,
        bearer=token,
        headers={"X-CloudScheduler-JobName": "cli", "X-CloudScheduler-ScheduleTime": at or iso(utcnow())},
    )
    try:
        result = client.request("POST", "/api/v1/scheduler/tick", {"pipeline": pipeline} if pipeline else {})
    except ApiError as exc:
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        if exc.http_status == 401:
            raise CliError(
                f"the server at {url} refused this folder's scheduler token: it serves another data folder. "
                "Pass the --data-dir (or CLOUDACT_DATA_DIR) it was started with",
                2,
                exc.body,
            ) from None
        if "ScheduleTime" in str(error.get("message", "")) or error.get("field") == "X-CloudScheduler-ScheduleTime":
            detail = str(error.get("message", "")).replace("Invalid X-CloudScheduler-ScheduleTime: ", "")
            raise CliError(f"--at: {detail}", 2, exc.body) from None
        raise
    emit(result)


@main.command()
@click.argument("org_slug")
@click.argument("pipeline", default="gcp/cost/billing")
@click.option("--start", "start", help="first day, YYYY-MM-DD")
@click.option("--end", "end", help="last day, YYYY-MM-DD")
@click.option(
    "--days", type=click.IntRange(min=1), help="Instead of --start/--end: the last DAYS days, ending yesterday."
)
@click.option("--force-refresh", is_flag=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until every day is done.")
@api_options
def backfill(
    org_slug: str,
    pipeline: str,
    start: str | None,
    end: str | None,
    days: int | None,
    force_refresh: bool,
    wait: bool,
    url: str,
    api_key: str | None,
) -> None:
    """Load every day from --start to --end (or the last --days), one run per day, and follow them."""
    import time

    if days is not None:
        if start or end:
            raise CliError("give --days or --start/--end, not both", 2)
        last = date.today() - timedelta(days=1)
        start, end = (last - timedelta(days=days - 1)).isoformat(), last.isoformat()
    if not start or not end:
        raise CliError("give --start and --end (YYYY-MM-DD), or --days N", 2)
    client = _client(url, api_key)
    body = {"start_date": start, "end_date": end, "force_refresh": force_refresh}
    accepted = client.request("POST", f"/api/v1/pipelines/backfill/{org_slug}/{pipeline}", body)
    say(
        f"backfill {accepted['backfill_id']}: {len(accepted['runs'])} runs queued"
        + (f", {len(accepted['already_active'])} days already running" if accepted["already_active"] else "")
    )
    if not wait:
        emit(accepted, lambda _: None)
        return
    progress: dict[str, Any] = {}
    with click.progressbar(length=len(accepted["runs"]), label="days done", file=sys.stderr) as bar:
        done = 0
        while True:
            progress = client.request("GET", f"/api/v1/pipelines/backfills/{accepted['backfill_id']}")
            finished = progress["counts"]["COMPLETE"] + progress["counts"]["FAILED"]
            bar.update(finished - done)
            done = finished
            if progress["done"]:
                break
            time.sleep(0.5)
    progress["summary"] = backfill_summary(progress)
    emit(progress, _backfill_human)
    sys.exit(0 if progress["counts"]["FAILED"] == 0 else 1)


def backfill_summary(progress: dict[str, Any]) -> str:
    runs = progress["runs"]
    empty = sum(
        1 for r in runs if r["status"] == "COMPLETE" and not r.get("rows_processed") and not r.get("skip_reason")
    )
    skipped = sum(1 for r in runs if r.get("skip_reason"))
    failed = progress["counts"]["FAILED"]
    parts = [f"{len(runs)} days", f"0 rows in {empty} of them"]
    if skipped:
        parts.append(f"{skipped} unchanged since their last run")
    if failed:
        parts.append(f"{failed} FAILED")
    return ", ".join(parts)


def _backfill_human(progress: dict[str, Any]) -> None:
    say(progress["summary"])
    for item in progress["runs"]:
        notes = [*item.get("warnings", []), *([item["skip_reason"]] if item.get("skip_reason") else [])]
        if item.get("error_message"):
            notes.append(item["error_message"])
        say(
            f"  {item['date']}  {item['status']:<8}  rows={item['rows_processed']}"
            + (f"  {'; '.join(notes)}" if notes else "")
        )


@main.command()
@click.argument("run_id")
@api_options
def status(run_id: str, url: str, api_key: str | None) -> None:
    """Show one run."""
    emit(_client(url, api_key).get_run(run_id), _run_summary)


@main.command()
@click.option("--status", "state", type=click.Choice(["PENDING", "RUNNING", "COMPLETE", "FAILED"]))
@click.option("--pipeline-id", help="e.g. acmecorp-gcp-billing ({org}-{provider}-{pipeline})")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Runs to show (any number).")
@click.option("--all", "everything", is_flag=True, help="Every run, however many.")
@api_options
def runs(
    state: str | None, pipeline_id: str | None, limit: int, everything: bool, url: str, api_key: str | None
) -> None:
    """List the org's runs, newest first (pages through the API as needed)."""
    from urllib.parse import urlencode

    client = _client(url, api_key)
    found: list[dict[str, Any]] = []
    token = None
    while everything or len(found) < limit:
        size = 100 if everything else min(100, limit - len(found))
        query = {"status": state, "pipeline_id": pipeline_id, "page_size": size, "page_token": token}
        page = client.request("GET", "/api/v1/pipelines/runs?" + urlencode({k: v for k, v in query.items() if v}))
        found += page["runs"]
        token = page.get("next_page_token")
        if not token:
            break

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            say("no runs")
        for item in items:
            detail = item.get("error_message") or item.get("skip_reason") or "; ".join(item.get("warnings") or [])
            say(
                f"{item['requested_at']}  {item['status']:<8}  {item['pipeline_logging_id']}  {item['pipeline_id']}  "
                f"{json.dumps(item['parameters'])}  rows={item['rows_processed']}" + (f"  {detail}" if detail else "")
            )

    emit(found, human)


# -- pipeline files -----------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@json_option
def validate(paths: tuple[Path, ...]) -> None:
    """Check pipeline files without running anything (default: every file the stack serves).

    PATHS are pipeline files or folders of them; problems are printed as file:line: message."""
    from shared.local_stack.validation import check_configs, check_file

    configs_dir = _app().settings.configs_dir
    problems: list[str] = []
    checked = 0
    targets = list(paths) or [configs_dir]
    for target in targets:
        if target.is_dir():
            files = sorted([*target.rglob("*.yml"), *target.rglob("*.yaml")])
            if target == configs_dir and not paths:
                problems += check_configs(target)
                checked += len(files)
                continue
            for file in files:
                problems += check_file(file)
            checked += len(files)
        else:
            problems += check_file(target)
            checked += 1

    def human(doc: dict[str, Any]) -> None:
        for line in doc["problems"]:
            click.echo(line, err=True)
        verdict = f"{len(doc['problems'])} problem(s)" if doc["problems"] else "all valid"
        say(f"{doc['files']} pipeline file(s) checked: {verdict}")

    emit({"files": checked, "problems": problems}, human)
    sys.exit(1 if problems else 0)


# -- costs --------------------------------------------------------------------------------------
@main.command("costs")
@click.argument("org_slug")
@click.option("--start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last day, YYYY-MM-DD (inclusive; at most 366 days in all).")
@click.option(
    "--by",
    default="service",
    show_default=True,
    help="Up to 3 of day, month, provider, service, sub_account, region, charge_category (comma-separated).",
)
@click.option("--cost", type=click.Choice(["billed", "effective", "list"]), default="billed", show_default=True)
@click.option("--provider", help="Only this ProviderName.")
@click.option("--service", help="Only this ServiceName.")
@click.option("--sub-account", help="Only this SubAccountId.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@api_options
def costs(
    org_slug: str,
    start: str,
    end: str,
    by: str,
    cost: str,
    provider: str | None,
    service: str | None,
    sub_account: str | None,
    fmt: str,
    url: str,
    api_key: str | None,
) -> None:
    """ORG_SLUG's costs from its FOCUS view, grouped, with one total per currency.

    Reads through the API (never the warehouse file), so it works while `serve` runs."""
    from urllib.parse import quote, urlencode

    from shared.local_stack.reports import cost_table

    client = _client(url, api_key)
    query = {"start": start, "end": end, "group_by": by, "cost": cost}
    query |= {k: v for k, v in {"provider": provider, "service": service, "sub_account": sub_account}.items() if v}
    path = f"/api/v1/costs/{quote(org_slug, safe='')}?{urlencode(query)}"
    if fmt == "csv":
        click.echo(client.request_text(path, "text/csv"), nl=False)
        return
    report = client.request("GET", path)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    emit(report, lambda doc: click.echo(cost_table(doc)))


# `focus-export` has its own module (the demo reuses its download). Importing it registers the
# command on `main`; it comes last, so whichever of the two modules is imported first, the other
# finds what it needs already defined.
from shared.local_stack import focus_cli  # noqa: E402, F401
