"""scheduler (HTTP, called by Cloud Scheduler with an OIDC token): the platform's clockwork.

POST /api/v1/scheduler/tick   queue the scheduled pipelines' runs for every org
                              (body: {"pipeline"?, "invoice_close"?: the monthly invoice-close runs})
POST /api/v1/scheduler/reap   fail runs that nothing will finish
Cloud Scheduler names the job and its schedule time in X-CloudScheduler-JobName and
X-CloudScheduler-ScheduleTime; a repeated call for the same pair adds no run.
"""

from __future__ import annotations

import functions_framework
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import web

MAX_SCHEDULE_SKEW_S = 7 * 24 * 3600
ROUTES = web.routes(
    ("POST", "/api/v1/scheduler/tick", "tick"),
    ("POST", "/api/v1/scheduler/reap", "reap"),
)


def _authenticate(request: Request) -> None:
    from shared import runtime
    from shared.errors import Unauthenticated
    from shared.settings import get_settings

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Scheduler token missing or invalid")
    # Cloud Scheduler's OIDC token names the URL it calls as its audience
    audience = get_settings().scheduler_audience or f"https://{request.host}"
    runtime.token_verifier().verify(token, audience)


def tick(request: Request) -> Response:
    from shared import runtime
    from shared.domain.runs import PipelineRef, parse_iso, utcnow
    from shared.errors import InvalidRequest
    from shared.services import scheduling
    from shared.settings import get_settings

    _authenticate(request)
    settings = get_settings()
    body = web.read_json(request, settings.max_body_bytes)
    unknown = sorted(set(body) - {"pipeline", "invoice_close"})
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])
    invoice_close = body.get("invoice_close", False)
    if not isinstance(invoice_close, bool):
        raise InvalidRequest("Invalid invoice_close: expected true or false", field="invoice_close")
    refs = None
    if "pipeline" in body:
        parts = str(body["pipeline"]).split("/")
        if len(parts) != 3:
            raise InvalidRequest("Invalid pipeline: expected provider/domain/name", field="pipeline")
        refs = [PipelineRef(*parts)]
    job = request.headers.get("X-CloudScheduler-JobName", "manual")[:200]
    raw_time = request.headers.get("X-CloudScheduler-ScheduleTime")
    now = utcnow()
    try:
        schedule_time = parse_iso(raw_time) if raw_time is not None else now
        # a firing is about now; anything far off is a mistake or a replay, and old days are a backfill's job
        if schedule_time.tzinfo is None or abs((schedule_time - now).total_seconds()) > MAX_SCHEDULE_SKEW_S:
            raise ValueError
    except (ValueError, OverflowError):
        raise InvalidRequest(
            "Invalid X-CloudScheduler-ScheduleTime: expected an RFC 3339 time within a week of now",
            field="X-CloudScheduler-ScheduleTime",
        ) from None
    report = scheduling.tick(runtime.backend(), settings, job, schedule_time, refs, invoice_close=invoice_close)
    return web.json_response(report.body())


def reap(request: Request) -> Response:
    from shared import runtime
    from shared.services import reaper
    from shared.settings import get_settings

    _authenticate(request)
    return web.json_response({"failed_run_ids": reaper.reap(runtime.backend(), get_settings())})


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def scheduler(request: Request) -> Response:
    return web.dispatch(request, ROUTES, {"tick": tick, "reap": reap})
