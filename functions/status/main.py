"""status (HTTP): read the caller's runs.

GET /api/v1/pipelines/runs/{pipeline_logging_id}
GET /api/v1/pipelines/runs?pipeline_id=&status=&page_size=&page_token=
GET /api/v1/pipelines/backfills/{backfill_id}   progress: counts per state, and each day's run
GET /api/v1/focus/{org}?start=&end=             the org's FOCUS rows, CSV or Parquet by Accept
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import application, web

if TYPE_CHECKING:
    from shared.application import Application

ROUTES = web.routes(
    ("GET", "/api/v1/pipelines/runs/<run_id>", "get"),
    ("GET", "/api/v1/pipelines/runs", "list"),
    ("GET", "/api/v1/pipelines/backfills/<backfill_id>", "backfill"),
    ("GET", "/api/v1/focus/<org_slug>", "focus"),
)


def get_run(app: Application, request: Request, run_id: str) -> Response:
    from shared.services import auth, runs

    store = app.backend.store
    org = auth.authenticate(store, request.headers.get("X-API-Key"))
    return web.json_response(runs.get(store, org, run_id).public())


def list_runs(app: Application, request: Request) -> Response:
    from shared.services import auth, runs

    store = app.backend.store
    org = auth.authenticate(store, request.headers.get("X-API-Key"))
    page = runs.list_page(store, org, request.args.to_dict())
    return web.json_response({"runs": [run.public() for run in page.runs], "next_page_token": page.next_page_token})


def backfill_progress(app: Application, request: Request, backfill_id: str) -> Response:
    from shared.services import auth, scheduling

    backend = app.backend
    org = auth.authenticate(backend.store, request.headers.get("X-API-Key"))
    return web.json_response(scheduling.backfill_progress(backend, org, backfill_id))


def focus_export(app: Application, request: Request, org_slug: str) -> Response:
    from shared import errors
    from shared.services import auth, focus_export

    backend, settings = app.backend, app.settings
    org = auth.authenticate_for(backend.store, request.headers.get("X-API-Key"), org_slug)
    days = focus_export.parse_range(request.args.to_dict(), settings.focus_export_max_days)
    # no Accept at all means anything, so CSV; an Accept naming neither format is refused
    best = (
        request.accept_mimetypes.best_match(list(focus_export.FORMATS.values()))
        if request.accept_mimetypes
        else "text/csv"
    )
    kind = next((name for name, mimetype in focus_export.FORMATS.items() if mimetype == best), None)
    if kind is None:
        raise errors.NotAcceptable("Accept text/csv or application/vnd.apache.parquet")
    result = focus_export.fetch(backend.warehouses.platform(), org, days, settings.focus_export_max_rows)
    return Response(
        focus_export.chunks(result, kind),
        mimetype=focus_export.FORMATS[kind],
        headers={
            **web.JSON_HEADERS,
            "Content-Disposition": f'attachment; filename="{focus_export.filename(org, days, kind)}"',
        },
        direct_passthrough=True,
    )


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def status(request: Request) -> Response:
    return web.dispatch(
        application.current(),
        request,
        ROUTES,
        {"get": get_run, "list": list_runs, "backfill": backfill_progress, "focus": focus_export},
    )
