"""The console's files as the local stack serves them: same origin, a strict CSP, nothing inline."""

from __future__ import annotations

import re

from werkzeug.test import Client

from shared.local_stack import console
from shared.local_stack.server import ApiGateway
from shared.settings import Settings


def test_every_file_is_served_with_a_csp_that_allows_nothing_inline(settings: Settings) -> None:
    client = Client(ApiGateway())
    served = console.files()
    assert {"/", "/app.js", "/app.css"} <= set(served)
    for path in served:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/").headers["Content-Type"].startswith("text/html")
    assert client.get("/app.js").headers["Content-Type"].startswith("text/javascript")
    assert client.get("/nope.js").status_code == 404 and client.get("/../pyproject.toml").status_code == 404
    assert client.post("/").status_code == 405
    assert client.get("/api/v1/nope").status_code == 404


def test_the_page_has_no_inline_code_and_no_outside_resource() -> None:
    html = (console.CONSOLE_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    assert "<style" not in html and not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    for name in ("index.html", "app.js", "app.css"):
        text = (console.CONSOLE_DIR / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name  # no CDN: every asset is ours
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text, name
