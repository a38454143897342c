"""The console's files as the costs function serves them: same origin, a strict CSP, nothing inline."""

from __future__ import annotations

import re

from werkzeug.test import Client

from shared import console
from shared.local_stack.server import ApiGateway
from shared.settings import Settings


def test_every_file_is_served_with_a_csp_that_allows_nothing_inline(settings: Settings) -> None:
    client = Client(ApiGateway())
    names = console.files()
    assert {"", "app.js", "app.css", "index.html"} <= set(names)
    for name in names:
        response = client.get(console.PREFIX + name)
        assert response.status_code == 200, name
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/console/").headers["Content-Type"].startswith("text/html")
    assert client.get("/console/app.js").headers["Content-Type"].startswith("text/javascript")
    root = client.get("/")
    assert root.status_code == 302 and root.headers["Location"] == "/console/"
    bare = client.get("/console")
    assert bare.status_code == 308 and bare.headers["Location"] == "/console/"
    for missing in ("/console/nope.js", "/console/..%2Fpyproject.toml", "/console/__init__.py", "/app.js"):
        response = client.get(missing)
        assert response.status_code == 404 and response.is_json, missing
    assert client.post("/console/").status_code == 405


def test_the_page_has_no_inline_code_and_no_outside_resource() -> None:
    html = (console.STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    assert "<style" not in html and not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    for name in ("index.html", "app.js", "app.css"):
        text = (console.STATIC_DIR / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name  # no CDN: every asset is ours
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text, name
