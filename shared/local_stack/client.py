"""A small HTTP client for the API, used by the CLI and the demo (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from shared.errors import CloudActError


class ApiError(CloudActError):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status}: {error.get('message', body)}")
        self.http_status = status
        self.body = body


class ServerUnreachable(CloudActError):
    """Nothing answers at the API's URL (the local stack is not running, or another URL is meant)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the CloudAct API at {url} ({reason})")
        self.url = url
        self.reason = reason


class ApiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        admin_key: str | None = None,
        bearer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.admin_key = admin_key
        self.bearer = bearer
        self.headers = headers or {}

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout_s: float = 30
    ) -> dict[str, Any]:
        raw = self._send(method, path, body, "application/json", timeout_s)
        return json.loads(raw) if raw else {}

    def request_text(self, path: str, accept: str, *, timeout_s: float = 30) -> str:
        """A GET answered in another format than JSON (``text/csv``); errors still come as JSON."""
        return self._send("GET", path, None, accept, timeout_s).decode()

    def _send(self, method: str, path: str, body: dict[str, Any] | None, accept: str, timeout_s: float) -> bytes:
        headers = {"Accept": accept, **self.headers}
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        if self.admin_key:
            headers["X-Admin-Key"] = self.admin_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the user's URL
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:  # not our API answering (a proxy's page): keep its first words
                body = {"error": {"code": "http_error", "message": raw[:200].decode(errors="replace").strip()}}
            raise ApiError(exc.code, body) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachable(self.base_url, str(getattr(exc.reason, "strerror", None) or exc.reason)) from None
        except (ConnectionError, TimeoutError) as exc:
            raise ServerUnreachable(self.base_url, str(exc) or type(exc).__name__) from None
        return bytes(raw)

    def run_pipeline(self, org: str, pipeline_path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/pipelines/run/{org}/{pipeline_path}", params)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/pipelines/runs/{run_id}")
