"""Creating organizations and managing their API keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain import api_keys, identifiers
from shared.domain.api_keys import ApiKeyRecord
from shared.domain.orgs import Organization, dataset_for
from shared.domain.runs import iso, utcnow
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.ports import Backend
from shared.services import history


def issue_key(backend: Backend, org_slug: str) -> tuple[str, ApiKeyRecord]:
    """A new key for the org; the plaintext is returned here once and never stored."""
    key = api_keys.generate(org_slug)
    record = ApiKeyRecord(
        key_id=api_keys.new_key_id(),
        org_slug=org_slug,
        key_hash=api_keys.hash_key(key),
        display_prefix=api_keys.display_prefix(key),
        created_at=iso(utcnow()),
    )
    backend.store.add_api_key(record)
    return key, record


def _refuse_unknown(body: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise InvalidRequest("Invalid name: expected 1-200 characters", field="name")
    return name


def create_org_from(backend: Backend, body: Mapping[str, Any]) -> tuple[Organization, str, ApiKeyRecord]:
    """The admin API's request: ``org_slug`` and an optional ``name`` (given, it is never null)."""
    _refuse_unknown(body, {"org_slug", "name"})
    if "name" in body:
        _check_name(body["name"])
    return create_org(backend, body.get("org_slug"), body.get("name"))


def create_org(backend: Backend, slug: object, name: object = None) -> tuple[Organization, str, ApiKeyRecord]:
    slug = identifiers.org_slug(slug)
    name = slug if name is None else _check_name(name)
    if backend.store.get_org(slug) is not None:
        raise Conflict("Organization already exists", org_slug=slug)
    org = Organization(slug=slug, name=name, dataset=dataset_for(slug), created_at=iso(utcnow()))
    warehouse = backend.warehouses.platform()
    # datasets first: creating them is idempotent, so a failure here leaves no half-made org
    warehouse.ensure_dataset(org.dataset)
    history.ensure(warehouse)
    if not backend.store.create_org(org):
        raise Conflict("Organization already exists", org_slug=slug)
    key, record = issue_key(backend, slug)
    return org, key, record


def _org(backend: Backend, slug: str) -> Organization:
    org = backend.store.get_org(slug)
    if org is None:
        raise NotFound("Organization not found")
    return org


def rotate_key_from(backend: Backend, slug: str, body: Mapping[str, Any]) -> tuple[str, ApiKeyRecord, list[str]]:
    """The admin API's request: an optional ``revoke_existing`` boolean, checked before the org."""
    _refuse_unknown(body, {"revoke_existing"})
    revoke_existing = body.get("revoke_existing", False)
    if not isinstance(revoke_existing, bool):
        raise InvalidRequest("Invalid revoke_existing: expected true or false", field="revoke_existing")
    return rotate_key(backend, slug, revoke_existing)


def rotate_key(backend: Backend, slug: str, revoke_existing: bool) -> tuple[str, ApiKeyRecord, list[str]]:
    """Issues a new key; with ``revoke_existing`` every older key stops working at once."""
    _org(backend, slug)
    key, record = issue_key(backend, slug)
    revoked = []
    if revoke_existing:
        now = iso(utcnow())
        for old in backend.store.list_api_keys(slug):
            if old.key_id != record.key_id and old.active:
                backend.store.revoke_api_key(slug, old.key_id, now)
                revoked.append(old.key_id)
    return key, record, revoked


def revoke_key(backend: Backend, slug: str, key_id: str) -> None:
    _org(backend, slug)
    if not backend.store.revoke_api_key(slug, key_id, iso(utcnow())):
        raise NotFound("API key not found")


def list_keys(backend: Backend, slug: str) -> list[ApiKeyRecord]:
    _org(backend, slug)
    return backend.store.list_api_keys(slug)
