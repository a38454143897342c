"""One error hierarchy for the whole project.

Every error says whether retrying can help (``transient``) and how the HTTP layer should show it
(``http_status``, ``code``). Adapters translate their vendor's exceptions into these, so callers
never catch a vendor type.
"""

from __future__ import annotations

from typing import Any


class CloudActError(Exception):
    """Root of every error raised on purpose by this project."""

    transient: bool = False
    http_status: int = 500
    code: str = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class TransientError(CloudActError):
    """Retrying later may succeed (quota, network, a backend hiccup)."""

    transient = True
    http_status = 503
    code = "unavailable"


class TerminalError(CloudActError):
    """Retrying cannot help: the input, the configuration or a permission is wrong."""


class ConfigError(TerminalError):
    """A pipeline file (or its SQL) is malformed: the operator must fix it, so a request meeting
    it is told to come back later (a run meeting it fails: retrying cannot help)."""

    http_status = 503
    code = "invalid_pipeline_config"


class InvalidRequest(TerminalError):
    http_status = 400
    code = "invalid_request"


class Unauthenticated(TerminalError):
    http_status = 401
    code = "unauthenticated"


class Forbidden(TerminalError):
    http_status = 403
    code = "forbidden"


class NotFound(TerminalError):
    http_status = 404
    code = "not_found"


class MethodNotAllowed(TerminalError):
    http_status = 405
    code = "method_not_allowed"


class NotAcceptable(TerminalError):
    http_status = 406
    code = "not_acceptable"


class Conflict(TerminalError):
    http_status = 409
    code = "conflict"


class PayloadTooLarge(TerminalError):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TerminalError):
    http_status = 415
    code = "unsupported_media_type"


class IntegrationNotConfigured(TerminalError):
    http_status = 422
    code = "integration_not_configured"
