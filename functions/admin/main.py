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

from shared import web

if TYPE_CHECKING:
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


def _admin(request: Request) -> Backend:
    from shared import runtime
    from shared.services import auth
    from shared.settings import get_settings

    auth.authenticate_admin(runtime.admin_key(get_settings()), request.headers.get("X-Admin-Key"))
    return runtime.backend()


def _body(request: Request) -> dict[str, Any]:
    from shared.settings import get_settings

    return web.read_json(request, get_settings().max_body_bytes)


def create_org(request: Request) -> Response:
    from shared.services import onboarding

    backend = _admin(request)
    org, key, record = onboarding.create_org_from(backend, _body(request))
    return web.json_response(
        {"org_slug": org.slug, "name": org.name, "dataset": org.dataset, "api_key": key, "key_id": record.key_id},
        201,
    )


def list_keys(request: Request, org_slug: str) -> Response:
    from shared.services import onboarding

    records = onboarding.list_keys(_admin(request), org_slug)
    return web.json_response({"api_keys": [record.public() for record in records]})


def rotate_key(request: Request, org_slug: str) -> Response:
    from shared.services import onboarding

    backend = _admin(request)
    key, record, revoked = onboarding.rotate_key_from(backend, org_slug, _body(request))
    return web.json_response({"api_key": key, "key_id": record.key_id, "revoked_key_ids": revoked}, 201)


def revoke_key(request: Request, org_slug: str, key_id: str) -> Response:
    from shared.services import onboarding

    onboarding.revoke_key(_admin(request), org_slug, key_id)
    return Response(status=204)


def _org(request: Request, org_slug: str) -> tuple[Backend, Organization]:
    from shared import runtime
    from shared.services import auth

    backend = runtime.backend()
    return backend, auth.authenticate_for(backend.store, request.headers.get("X-API-Key"), org_slug)


def set_integration(request: Request, org_slug: str, provider: str) -> Response:
    from shared.services import integrations

    backend, org = _org(request, org_slug)
    integration = integrations.set_up(backend, org, provider, _body(request))
    return web.json_response(integration.public(), 200)


def list_integrations(request: Request, org_slug: str) -> Response:
    from shared.services import integrations

    backend, org = _org(request, org_slug)
    return web.json_response({"integrations": [item.public() for item in integrations.list_for(backend, org)]})


def delete_integration(request: Request, org_slug: str, provider: str) -> Response:
    from shared.services import integrations

    backend, org = _org(request, org_slug)
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
    return web.dispatch(request, ROUTES, HANDLERS)
