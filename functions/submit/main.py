"""submit (HTTP): authenticate run requests, validate them, record them PENDING and queue them.

POST /api/v1/pipelines/run/{org_slug}/{provider}/{domain}/{pipeline}        one run      -> 202
POST /api/v1/pipelines/run/{org_slug}/{provider}/{pipeline}                 the same, by pipeline id
POST /api/v1/pipelines/backfill/{org_slug}/{provider}/{domain}/{pipeline}   one per day  -> 202
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
    ("POST", "/api/v1/pipelines/run/<org_slug>/<provider>/<domain>/<pipeline>", "run"),
    # the source document's form: the pipeline whose id is {org}-{provider}-{pipeline}
    ("POST", "/api/v1/pipelines/run/<org_slug>/<provider>/<pipeline>", "run_by_id"),
    ("POST", "/api/v1/pipelines/backfill/<org_slug>/<provider>/<domain>/<pipeline>", "backfill"),
)


def run_pipeline(
    app: Application, request: Request, org_slug: str, provider: str, domain: str | None, pipeline: str
) -> Response:
    # imported on first request, not at cold start (functions-framework's lazy-globals pattern)
    from shared.domain.runs import PipelineRef
    from shared.services import auth, submission

    org = auth.authenticate_for(app.backend.store, request.headers.get("X-API-Key"), org_slug)
    body = web.read_json(request, app.settings.max_body_bytes)
    ref = app.pipelines.find(provider, pipeline) if domain is None else PipelineRef(provider, domain, pipeline)
    run = submission.submit_run(app, org, ref, body)
    return web.json_response(
        {
            "status": run.status,
            "pipeline_logging_id": run.run_id,
            "pipeline_id": run.pipeline_id,
            "org_slug": run.org_slug,
            "parameters": run.parameters,
            "message": f"Pipeline {provider}/{pipeline} triggered successfully for {org.slug} (async mode)",
        },
        202,
    )


def run_by_id(app: Application, request: Request, org_slug: str, provider: str, pipeline: str) -> Response:
    return run_pipeline(app, request, org_slug, provider, None, pipeline)


def backfill(app: Application, request: Request, org_slug: str, provider: str, domain: str, pipeline: str) -> Response:
    from shared.domain.runs import PipelineRef
    from shared.services import auth, scheduling

    org = auth.authenticate_for(app.backend.store, request.headers.get("X-API-Key"), org_slug)
    body = web.read_json(request, app.settings.max_body_bytes)
    result = scheduling.backfill(app, org, PipelineRef(provider, domain, pipeline), body)
    return web.json_response(
        {
            "backfill_id": result.backfill_id,
            "org_slug": org.slug,
            "runs": [{"date": run.parameters["date"], "pipeline_logging_id": run.run_id} for run in result.runs],
            "already_active": result.already_active,
            "not_queued": [run.run_id for run in result.refused],
            "message": f"Backfill of {provider}/{pipeline} queued {len(result.runs) - len(result.refused)} runs",
        },
        202,
    )


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def submit(request: Request) -> Response:
    return web.dispatch(
        application.current(), request, ROUTES, {"run": run_pipeline, "run_by_id": run_by_id, "backfill": backfill}
    )
