"""costs (HTTP): what the console and the CLI read, read-only.

GET /api/v1/costs/{org_slug}?start=&end=&group_by=&cost=&provider=&service=&sub_account=
    the org's FOCUS costs grouped, per-currency totals and freshness; CSV with Accept: text/csv
GET /api/v1/pipelines   the pipelines the org can run, with their parameters (a run form's needs)
GET /console/...        the web console's static files (shared/console), on the API's origin
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
    ("GET", "/api/v1/costs/<org_slug>", "costs"),
    ("GET", "/api/v1/pipelines", "pipelines"),
    ("GET", "/console/", "console"),
    ("GET", "/console/<name>", "console"),
)


def get_costs(app: Application, request: Request, org_slug: str) -> Response:
    from shared.services import auth, costs

    settings, backend = app.settings, app.backend
    org = auth.authenticate_for(backend.store, request.headers.get("X-API-Key"), org_slug)
    query = costs.parse_query(request.args.to_dict())
    report = costs.report(
        backend.warehouses.platform(),
        backend.store,
        settings.project,
        org,
        query,
        max_bytes_billed=settings.costs_max_bytes_billed,
    )
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return Response(report.csv(), mimetype="text/csv", headers=web.JSON_HEADERS)
    return web.json_response(report.public(org.slug))


def list_pipelines(app: Application, request: Request) -> Response:
    from shared.services import auth, catalog

    store = app.backend.store
    org = auth.authenticate(store, request.headers.get("X-API-Key"))
    return web.json_response({"pipelines": catalog.available(store, app.pipelines, org)})


def console_file(app: Application, request: Request, name: str = "") -> Response:
    from shared import console

    return console.serve(request.path)


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def costs(request: Request) -> Response:
    return web.dispatch(
        application.current(),
        request,
        ROUTES,
        {"costs": get_costs, "pipelines": list_pipelines, "console": console_file},
    )
