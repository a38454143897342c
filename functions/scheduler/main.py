"""scheduler (HTTP, called by Cloud Scheduler with an OIDC token): the platform's clockwork.

POST /api/v1/scheduler/tick   queue the scheduled pipelines' runs for every org
                              (body: {"pipeline"?, "invoice_close"?: the monthly invoice-close runs})
POST /api/v1/scheduler/reap   fail runs that nothing will finish
Cloud Scheduler names the job and its schedule time in X-CloudScheduler-JobName and
X-CloudScheduler-ScheduleTime; a repeated call for the same pair adds no run.
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
    ("POST", "/api/v1/scheduler/tick", "tick"),
    ("POST", "/api/v1/scheduler/reap", "reap"),
)


def _authenticate(app: Application, request: Request) -> None:
    from shared.errors import Unauthenticated

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Scheduler token missing or invalid")
    # Cloud Scheduler's OIDC token names the URL it calls as its audience
    audience = app.settings.scheduler_audience or f"https://{request.host}"
    app.token_verifier().verify(token, audience)


def tick(app: Application, request: Request) -> Response:
    from shared.domain.runs import utcnow
    from shared.services import scheduling

    _authenticate(app, request)
    wanted = scheduling.tick_request(web.read_json(request, app.settings.max_body_bytes))
    job = request.headers.get("X-CloudScheduler-JobName", "manual")[:200]
    fired_at = scheduling.schedule_time(
        request.headers.get("X-CloudScheduler-ScheduleTime"), utcnow(), field="X-CloudScheduler-ScheduleTime"
    )
    report = scheduling.tick(app, job, fired_at, wanted.refs, invoice_close=wanted.invoice_close)
    return web.json_response(report.body())


def reap(app: Application, request: Request) -> Response:
    from shared.services import reaper

    _authenticate(app, request)
    return web.json_response({"failed_run_ids": reaper.reap(app)})


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def scheduler(request: Request) -> Response:
    return web.dispatch(application.current(), request, ROUTES, {"tick": tick, "reap": reap})
