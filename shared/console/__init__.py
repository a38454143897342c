"""The web console: static files (``static/``) served under ``/console/`` by the costs function.

On the API's own origin, so the page's Content-Security-Policy can allow ``connect-src 'self'``
and nothing else, and the API key never crosses origins. ``/`` redirects to ``/console/`` (the
local stack does it; in production the load balancer's url map does).
"""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Response

from shared import web
from shared.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


PREFIX = "/console/"


def files() -> dict[str, str]:
    """File name under ``PREFIX`` -> file, for every file the console is made of (``""``: the page)."""
    served = {"": "index.html"}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in TYPES:
            served[path.name] = path.name
    return served


def serve(path: str) -> Response:
    """``path`` is the request's path: ``/console/`` or ``/console/<file>``."""
    if path.rstrip("/") == PREFIX.rstrip("/") and not path.endswith("/"):
        # the page's relative asset URLs need the trailing slash
        return Response(status=308, headers={"Location": PREFIX, **HEADERS})
    name = files().get(path[len(PREFIX) :] if path.startswith(PREFIX) else "/")
    if name is None:
        return web.error_response(NotFound("No such route"))
    file = STATIC_DIR / name
    return Response(file.read_bytes(), content_type=TYPES[file.suffix], headers=HEADERS)
