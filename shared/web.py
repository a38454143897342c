"""What every HTTP function shares: routing, JSON bodies, and errors as ``{"error": {...}}``.

Kept to the standard library and Werkzeug (already loaded by functions-framework), so importing it
costs a function's cold start next to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as RouteMethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared import errors
from shared.json_input import UntrustedJsonError, loads_untrusted
from shared.logs import get_logger

if TYPE_CHECKING:
    from shared.application import Application

log = get_logger("http")
Handler = Callable[..., Response]
"""Called as ``handler(app, request, **route_arguments)``."""
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


def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, read at most ``max_bytes + 1`` bytes far whatever the framing, and kept for
    whoever asks for it next (``request.get_data()``, functions-framework's own after-request read).

    A declared length over the limit is refused before a byte is read; a chunked body is refused as
    soon as it passes the limit. A body that ends before its declared length, or whose chunked
    framing is broken, is a 400, not a crash.
    """
    cached: bytes | None = getattr(request, "_cached_data", None)
    if cached is not None:  # already read (and checked) by dispatch
        return cached
    length = request.content_length
    if length is not None and length > max_bytes:
        raise errors.PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        while size <= max_bytes:
            part = request.stream.read(max_bytes + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
    except HTTPException as exc:  # werkzeug's ClientDisconnected: fewer bytes than Content-Length
        raise errors.InvalidRequest("Request body is incomplete") from exc
    except (OSError, ValueError) as exc:  # a server's chunked decoder on a malformed chunk
        raise errors.InvalidRequest("Request body framing is malformed") from exc
    if size > max_bytes:
        raise errors.PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    raw = b"".join(parts)
    # werkzeug has no public setter for this cache; without it functions-framework would read the
    # stream again after the response, unbounded
    request._cached_data = raw
    return raw


def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` when empty. Refuses oversize (413), non-JSON (415), bad JSON (400)."""
    raw = read_body(request, max_bytes)
    if len(raw) > max_bytes:
        raise errors.PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise errors.UnsupportedMediaType("Content-Type must be application/json")
    try:
        body = loads_untrusted(raw)
    except UntrustedJsonError as exc:
        raise errors.InvalidRequest(f"Request body is not valid JSON: {exc}") from None
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


def client_address(request: Request, trusted_proxies: int) -> str:
    """Who is calling, as far as the deployment can vouch for it (the failed-auth limiter's key).

    With no trusted proxy (the local stack) it is the connecting address: X-Forwarded-For is
    whatever the client chose to send. Behind N trusted proxies (``CLOUDACT_TRUSTED_PROXIES``) it
    is the Nth X-Forwarded-For entry from the right, the one the outermost trusted proxy appended:
    entries left of it are the client's own, so adding some changes nothing. A request that did not
    come through that many proxies is keyed by its connecting address.
    """
    hops = trusted_proxies
    if hops > 0:
        forwarded = [
            entry.strip() for header in request.headers.getlist("X-Forwarded-For") for entry in header.split(",")
        ]
        if len(forwarded) >= hops and forwarded[-hops]:
            return forwarded[-hops]
    return request.remote_addr or "unknown"


def dispatch(app: Application, request: Request, url_map: Map, handlers: dict[str, Handler]) -> Response:
    """Routes the request to its handler, with ``app``, and turns every failure into a JSON error
    with the right status."""
    client = client_address(request, app.settings.trusted_proxies)
    wait = app.auth_throttle.retry_after(client)
    if wait:
        _discard_body(request)
        return json_response(
            {"error": {"code": "too_many_requests", "message": "Too many failed authentications; retry later"}},
            429,
            {"Retry-After": str(wait)},
        )
    try:
        # First, before any key is looked at: every request is read up to the limit and no further,
        # so a caller without a key cannot make the server take in more than that.
        read_body(request, app.settings.max_body_bytes)
        try:
            endpoint, arguments = url_map.bind_to_environ(request.environ).match()
        except RouteMethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            return error_response(errors.MethodNotAllowed("Method not allowed"), {"Allow": allowed})
        except HTTPException:
            return error_response(errors.NotFound("No such route"))
        return handlers[endpoint](app, request, **arguments)
    except errors.CloudActError as exc:
        if isinstance(exc, errors.Unauthenticated):
            app.auth_throttle.record_failure(client)
        if exc.http_status >= 500:
            log.warning(f"request failed: {exc.code}")
        elif isinstance(exc, errors.PayloadTooLarge) or exc.__cause__ is not None:
            log.warning(f"request refused: {exc.message}")  # one line: what was wrong, never the body
        _discard_body(request)
        return error_response(exc)
    except Exception as exc:  # never a stack trace out; the log has the type
        log.error("unhandled error", exc_info=exc)
        _discard_body(request)
        return error_response(errors.CloudActError("Internal error"))


def _discard_body(request: Request) -> None:
    # Whatever was not read stays unread: functions-framework reads the body after every response
    # (``request.get_data()``); an empty cache makes that a no-op instead of an unbounded read, and
    # the server closes the connection.
    if getattr(request, "_cached_data", None) is None:
        request._cached_data = b""
