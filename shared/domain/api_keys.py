"""Org API keys: ``{org_slug}_api_{secret}{checksum}``.

The secret carries 190 bits of entropy. The 6-character checksum lets a typo or a guessed key be
refused before any store lookup. Only the SHA-256 of the whole key is ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

from shared.domain.identifiers import ORG_SLUG

ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
SEPARATOR = "_api_"


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    org_slug: str
    key_hash: str
    display_prefix: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, str | None]:
        return {
            "key_id": self.key_id,
            "org_slug": self.org_slug,
            "prefix": self.display_prefix,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate(org_slug: str) -> str:
    body = f"{org_slug}{SEPARATOR}{''.join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))}"
    return body + _checksum(body)


def parse_org(key: str) -> str | None:
    """The org slug of a well-formed key with a valid checksum, else None (no store lookup needed)."""
    if len(key) > 100 or SEPARATOR not in key:
        return None
    slug, _, tail = key.rpartition(SEPARATOR)
    if not ORG_SLUG.fullmatch(slug) or len(tail) != SECRET_LENGTH + CHECKSUM_LENGTH:
        return None
    if any(ch not in ALPHABET for ch in tail):
        return None
    body, checksum = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), checksum):
        return None
    return slug


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def display_prefix(key: str) -> str:
    slug, _, tail = key.rpartition(SEPARATOR)
    return f"{slug}{SEPARATOR}{tail[:4]}…"
