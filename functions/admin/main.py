"""admin (HTTP): onboarding and integrations.

Admin credential (X-Admin-Key):
  POST   /api/v1/admin/orgs                              create an org; its first API key, shown once
  GET    /api/v1/admin/orgs/{org_slug}/api-keys          list keys (metadata)
  POST   /api/v1/admin/orgs/{org_slug}/api-keys          rotate: a new key, optionally revoking the rest
  DELETE /api/v1/admin/orgs/{org_slug}/api-keys/{key_id} revoke one key
Org API key (X-API-Key), for the org's own integrations:
  PUT    /api/v1/integrations/{org_slug}/{provider}      set up (credential stored encrypted)
  GET    /api/v1/integrations/{org_slug}                 list (metadata only, never the credential)
  DELETE /api/v1/integrations/{org_slug}/{provider}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import functions_framework
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import application, web

if TYPE_CHECKING:
    from shared.application import Application
    from shared.domain.orgs import Organization
    from shared.ports import Backend

ROUTES = web.routes(
    ("POST", "/api/v1/admin/orgs", "create_org"),
    ("GET", "/api/v1/admin/orgs/<org_slug>/api-keys", "list_keys"),
    ("POST", "/api/v1/admin/orgs/<org_slug>/api-keys", "rotate_key"),
    ("DELETE", "/api/v1/admin/orgs/<org_slug>/api-keys/<key_id>", "revoke_key"),
    ("PUT", "/api/v1/integrations/<org_slug>/<provider>", "set_integration"),
    ("GET", "/api/v1/integrations/<org_slug>", "list_integrations"),
    ("DELETE", "/api/v1/integrations/<org_slug>/<provider>", "delete_integration"),
)


def _admin(app: Application, request: Request) -> Backend:
    from shared.services import auth

    auth.authenticate_admin(app.admin_key(), request.headers.get("X-Admin-Key"))
    return app.backend


def _body(app: Application, request: Request) -> dict[str, Any]:
    return web.read_json(request, app.settings.max_body_bytes)


def create_org(app: Application, request: Request) -> Response:
    from shared.services import onboarding

    backend = _admin(app, request)
    org, key, record = onboarding.create_org_from(backend, _body(app, request))
    return web.json_response(
        {"org_slug": org.slug, "name": org.name, "dataset": org.dataset, "api_key": key, "key_id": record.key_id},
        201,
    )


def list_keys(app: Application, request: Request, org_slug: str) -> Response:
    from shared.services import onboarding

    records = onboarding.list_keys(_admin(app, request), org_slug)
    return web.json_response({"api_keys": [record.public() for record in records]})


def rotate_key(app: Application, request: Request, org_slug: str) -> Response:
    from shared.services import onboarding

    backend = _admin(app, request)
    key, record, revoked = onboarding.rotate_key_from(backend, org_slug, _body(app, request))
    return web.json_response({"api_key": key, "key_id": record.key_id, "revoked_key_ids": revoked}, 201)


def revoke_key(app: Application, request: Request, org_slug: str, key_id: str) -> Response:
    from shared.services import onboarding

    onboarding.revoke_key(_admin(app, request), org_slug, key_id)
    return Response(status=204)


def _org(app: Application, request: Request, org_slug: str) -> tuple[Backend, Organization]:
    from shared.services import auth

    backend = app.backend
    return backend, auth.authenticate_for(backend.store, request.headers.get("X-API-Key"), org_slug)


def set_integration(app: Application, request: Request, org_slug: str, provider: str) -> Response:
    from shared.services import integrations

    backend, org = _org(app, request, org_slug)
    integration = integrations.set_up(backend, app.settings, org, provider, _body(app, request))
    return web.json_response(integration.public(), 200)


def list_integrations(app: Application, request: Request, org_slug: str) -> Response:
    from shared.services import integrations

    backend, org = _org(app, request, org_slug)
    return web.json_response({"integrations": [item.public() for item in integrations.list_for(backend, org)]})


def delete_integration(app: Application, request: Request, org_slug: str, provider: str) -> Response:
    from shared.services import integrations

    backend, org = _org(app, request, org_slug)
    integrations.delete(backend, org, provider)
    return Response(status=204)


HANDLERS: dict[str, web.Handler] = {
    "create_org": create_org,
    "list_keys": list_keys,
    "rotate_key": rotate_key,
    "revoke_key": revoke_key,
    "set_integration": set_integration,
    "list_integrations": list_integrations,
    "delete_integration": delete_integration,
}


functions_framework.errorhandler(HTTPException)(web.framework_error)


@functions_framework.http
def admin(request: Request) -> Response:
    return web.dispatch(application.current(), request, ROUTES, HANDLERS)
