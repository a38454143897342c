"""The web console's static files (``console/`` at the project root), as the local stack serves them.

In production the same files sit in a bucket behind the API's load balancer, with the same headers
(``terraform/console.tf``). The page talks to the API on its own origin only.
"""

from __future__ import annotations

import mimetypes

from werkzeug.wrappers import Response

from shared import web
from shared.errors import MethodNotAllowed, NotFound
from shared.settings import PROJECT_ROOT

CONSOLE_DIR = PROJECT_ROOT / "console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def files() -> dict[str, str]:
    """URL path -> file name, for every file the console is made of."""
    served = {"/": "index.html"}
    for path in sorted(CONSOLE_DIR.iterdir()):
        if path.is_file() and path.suffix in TYPES:
            served[f"/{path.name}"] = path.name
    return served


def serve(path: str, method: str) -> Response:
    name = files().get(path)
    if name is None:
        return web.error_response(NotFound("No such route"))
    if method not in ("GET", "HEAD"):
        return web.error_response(MethodNotAllowed("Method not allowed"), {"Allow": "GET, HEAD"})
    file = CONSOLE_DIR / name
    mimetype = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return Response(file.read_bytes(), content_type=mimetype, headers=HEADERS)
