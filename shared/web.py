"""What every HTTP function shares: routing, JSON bodies, and errors as ``{"error": {...}}``.

Kept to the standard library and Werkzeug (already loaded by functions-framework), so importing it
costs a function's cold start next to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as RouteMethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared import errors
from shared.logs import get_logger
from shared.throttle import FailedAuthLimiter

log = get_logger("http")
_limiter: FailedAuthLimiter | None = None
Handler = Callable[..., Response]
JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=str),
        status=status,
        mimetype="application/json",
        headers={**JSON_HEADERS, **(headers or {})},
    )


def error_response(error: errors.CloudActError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.to_body(), error.http_status, headers)


def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` when empty. Refuses oversize (413), non-JSON (415), bad JSON (400)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise errors.PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise errors.PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise errors.UnsupportedMediaType("Content-Type must be application/json")
    try:
        body = json.loads(raw)
    except ValueError:
        raise errors.InvalidRequest("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("Request body must be a JSON object")
    return body


def framework_error(error: HTTPException) -> Response:
    """For functions-framework's own refusals (a path its catch-all route cannot match, a method it
    does not serve): the same JSON error shape as ours, never an HTML page."""
    status = error.code or 500
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(status, "invalid_request")
    return json_response({"error": {"code": code, "message": error.name}}, status)


def routes(*rules: tuple[str, str, str]) -> Map:
    """``(method, path, endpoint)`` triples; a path matches with or without a trailing slash."""
    return Map(
        [Rule(path, endpoint=endpoint, methods=[method], strict_slashes=False) for method, path, endpoint in rules]
    )


def _auth_limiter() -> FailedAuthLimiter:
    global _limiter
    if _limiter is None:
        from shared.settings import get_settings

        settings = get_settings()
        _limiter = FailedAuthLimiter(settings.auth_failure_limit, settings.auth_failure_window_s)
    return _limiter


def client_address(request: Request) -> str:
    # the address appended by the nearest front end (Google's, in production); earlier
    # X-Forwarded-For entries are whatever the client chose to send
    return request.access_route[-1] if request.access_route else (request.remote_addr or "unknown")


def dispatch(request: Request, url_map: Map, handlers: dict[str, Handler]) -> Response:
    """Routes the request and turns every failure into a JSON error with the right status."""
    client = client_address(request)
    wait = _auth_limiter().retry_after(client)
    if wait:
        return json_response(
            {"error": {"code": "too_many_requests", "message": "Too many failed authentications; retry later"}},
            429,
            {"Retry-After": str(wait)},
        )
    try:
        try:
            endpoint, arguments = url_map.bind_to_environ(request.environ).match()
        except RouteMethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            return error_response(errors.MethodNotAllowed("Method not allowed"), {"Allow": allowed})
        except HTTPException:
            return error_response(errors.NotFound("No such route"))
        return handlers[endpoint](request, **arguments)
    except errors.CloudActError as exc:
        if isinstance(exc, errors.Unauthenticated):
            _auth_limiter().record_failure(client)
        if exc.http_status >= 500:
            log.warning(f"request failed: {exc.code}")
        return error_response(exc)
    except Exception as exc:  # never a stack trace out; the log has the type
        log.error("unhandled error", exc_info=exc)
        return error_response(errors.CloudActError("Internal error"))
