"""Who is calling: an org (by API key) or the platform admin (by admin key)."""

from __future__ import annotations

import hashlib
import hmac

from shared.domain import api_keys
from shared.domain.orgs import Organization
from shared.errors import Forbidden, Unauthenticated
from shared.ports import Store

# One message for every refusal, so a caller cannot tell a missing key from an unknown or revoked one;
# the hint is for the caller who sent the key elsewhere (an Authorization: Bearer header, a query).
UNAUTHENTICATED = "Organization API key not found: send the org's API key in the X-API-Key header"


def authenticate(store: Store, presented: str | None) -> Organization:
    # Whitespace around a header value is not part of it (RFC 9110 "OWS"): an HTTP server already
    # drops the leading kind, so trailing whitespace is dropped too, and both are accepted alike.
    presented = (presented or "").strip()
    if not presented:
        raise Unauthenticated(UNAUTHENTICATED)
    slug = api_keys.parse_org(presented)
    if slug is None:  # malformed or bad checksum: refused without touching the store
        raise Unauthenticated(UNAUTHENTICATED)
    key_hash = api_keys.hash_key(presented)
    record = store.find_api_key(key_hash)
    if (
        record is None
        or not hmac.compare_digest(record.key_hash, key_hash)
        or not record.active
        or record.org_slug != slug
    ):
        raise Unauthenticated(UNAUTHENTICATED)
    org = store.get_org(slug)
    if org is None or org.status != "active":
        raise Unauthenticated(UNAUTHENTICATED)
    return org


def authorize(org: Organization, path_org_slug: str) -> None:
    if not hmac.compare_digest(org.slug.encode(), path_org_slug.encode()):
        raise Forbidden("API key is not valid for this organization")


def authenticate_for(store: Store, presented: str | None, path_org_slug: str) -> Organization:
    org = authenticate(store, presented)
    authorize(org, path_org_slug)
    return org


def authenticate_admin(expected: str, presented: str | None) -> None:
    """Checks ``presented`` against the admin key ``expected``, in constant time."""
    presented = (presented or "").strip()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    given = hashlib.sha256(presented.encode()).digest()
    if not presented or not hmac.compare_digest(expected_digest, given):
        raise Unauthenticated("Admin credential missing or invalid")
