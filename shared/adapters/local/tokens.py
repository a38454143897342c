"""TokenVerifier for the local stack: JWTs signed with a local secret (HS256).

The same checks as Google's OIDC tokens get in production (signature, expiry, audience), so the
scheduler's authentication is exercised for real on one machine; ``mint`` is what the local
scheduler and the CLI use to call it.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from shared.errors import Unauthenticated

ISSUER = "cloudact-local"


class LocalTokenVerifier:
    def __init__(self, secret_path: Path) -> None:
        self._path = secret_path
        self._secret: bytes | None = None

    def _key(self) -> bytes:
        if self._secret is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                self._secret = self._path.read_bytes()
            else:
                self._secret = secrets.token_bytes(32)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(self._secret)
        return self._secret

    def mint(self, audience: str, subject: str = "local-scheduler", ttl_s: int = 300) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl_s}
        return jwt.encode(claims, self._key(), algorithm="HS256")

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key(),
                algorithms=["HS256"],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["exp", "aud", "iss"]},
            )
        except (jwt.PyJWTError, RecursionError):  # PyJWT parses the header's JSON before any check
            raise Unauthenticated("Scheduler token missing or invalid") from None
        return claims
