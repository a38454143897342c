"""status (HTTP): read the caller's runs.

GET /api/v1/pipelines/runs/{pipeline_logging_id}
GET /api/v1/pipelines/runs?pipeline_id=&status=&page_size=&page_token=
GET /api/v1/pipelines/backfills/{backfill_id}   progress: counts per state, and each day's run
"""

from __future__ import annotations

import functions_framework
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import web

ROUTES = web.routes(
    ("GET", "/api/v1/pipelines/runs/<run_id>", "get"),
    ("GET", "/api/v1/pipelines/runs", "list"),
    ("GET", "/api/v1/pipelines/backfills/<backfill_id>", "backfill"),
)


def get_run(request: Request, run_id: str) -> Response:
    from shared import runtime
    from shared.services import auth, runs

    store = runtime.backend().store
    org = auth.authenticate(store, request.headers.get("X-API-Key"))
    return web.json_response(runs.get(store, org, run_id).public())


def list_runs(request: Request) -> Response:
    from shared import runtime
    from shared.services import auth, runs

    store = runtime.backend().store
    org = auth.authenticate(store, request.headers.get("X-API-Key"))
    page = runs.list_page(store, org, request.args.to_dict())
    return web.json_response({"runs": [run.public() for run in page.runs], "next_page_token": page.next_page_token})


def backfill_progress(request: Request, backfill_id: str) -> Response:
    from shared import runtime
    from shared.services import auth, scheduling

    backend = runtime.backend()
    org = auth.authenticate(backend.store, request.headers.get("X-API-Key"))
    return web.json_response(scheduling.backfill_progress(backend, org, backfill_id))


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def status(request: Request) -> Response:
    return web.dispatch(request, ROUTES, {"get": get_run, "list": list_runs, "backfill": backfill_progress})
