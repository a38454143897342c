"""TokenVerifier for Google-signed OIDC ID tokens (what Cloud Scheduler sends).

google-auth checks the signature against Google's published certificates, the expiry and the
audience; we add the caller's identity, so only the scheduler's own service account gets in.
"""

from __future__ import annotations

from typing import Any

from shared.errors import Unauthenticated


class GoogleOidcVerifier:
    def __init__(self, allowed_email: str | None) -> None:
        self._allowed_email = allowed_email
        self._transport: Any = None

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        from google.auth.transport import requests as google_requests
        from google.oauth2 import id_token

        if self._transport is None:
            self._transport = google_requests.Request()  # caches Google's certificates between calls
        try:
            claims: dict[str, Any] = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
                token, self._transport, audience=audience
            )
        except (ValueError, RecursionError):  # google-auth parses the header's JSON before any check
            raise Unauthenticated("Scheduler token missing or invalid") from None
        if not self._allowed_email or claims.get("email") != self._allowed_email or not claims.get("email_verified"):
            raise Unauthenticated("Scheduler token missing or invalid")
        return claims
