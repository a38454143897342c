"""Integrations: an org's credentials for a provider, stored encrypted.

Only ``metadata`` is ever shown; the credential leaves the store encrypted and is decrypted in the
worker's memory alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from shared.domain import identifiers
from shared.errors import InvalidRequest
from shared.json_input import UntrustedJsonError, loads_untrusted

GCP_SA = "GCP_SA"

LOCAL_PLACEHOLDER = "cloudact_local_placeholder"
"""The ``type`` of the stand-in credential ``cloudact integrate --local-credential`` stores: the embedded
warehouse never uses an org's key, and Google's adapters refuse this one."""
_SA_EMAIL = re.compile(r"[a-z][a-z0-9-]{4,29}@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com")
_SA_FIELDS = ("type", "project_id", "private_key_id", "private_key", "client_email", "client_id")
_MAX_CREDENTIAL_BYTES = 16 * 1024
_KEY_CHARS = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class Integration:
    org_slug: str
    integration_type: str
    metadata: dict[str, Any]
    encrypted_credential: dict[str, Any] = field(repr=False)
    created_at: str
    updated_at: str

    def public(self) -> dict[str, Any]:
        from shared import providers  # the providers' declarations import this module

        return {
            "org_slug": self.org_slug,
            "integration_type": self.integration_type,
            "provider": providers.for_kind(self.integration_type).name,
            "status": "configured",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            **self.metadata,
        }


@dataclass(frozen=True)
class IntegrationSecret:
    """An integration as the worker holds it once decrypted: never stored, logged or returned."""

    metadata: dict[str, Any]
    credentials: dict[str, Any] = field(repr=False)


def associated_data(org_slug: str, integration_type: str) -> bytes:
    """Binds a ciphertext to its org and provider: it will not decrypt as anyone else's."""
    return f"cloudact:integration:{org_slug}:{integration_type}".encode()


def local_placeholder(project_id: str) -> dict[str, str]:
    return {
        "type": LOCAL_PLACEHOLDER,
        "project_id": project_id,
        "note": "CloudAct local stack placeholder: not a Google credential; BigQuery refuses it",
    }


def is_local_placeholder(credential: object) -> bool:
    return isinstance(credential, dict) and credential.get("type") == LOCAL_PLACEHOLDER


def validate_local_placeholder(credential: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    if set(credential) - {"type", "project_id", "note"}:
        raise InvalidRequest(
            "Invalid credential: a local placeholder has only type, project_id and note", field="credential"
        )
    identifiers.check(identifiers.GCP_PROJECT, credential.get("project_id"), "credential.project_id")
    metadata = {"project_id": credential["project_id"], "client_email": "local-placeholder", "local_placeholder": True}
    return json.dumps(credential, sort_keys=True).encode(), metadata


def validate_gcp_service_account(credential: object) -> tuple[bytes, dict[str, str]]:
    """Checks a service-account key's shape; returns its canonical bytes and public metadata."""
    if isinstance(credential, str):
        try:
            credential = loads_untrusted(credential)
        except UntrustedJsonError as exc:
            raise InvalidRequest(f"Invalid credential: {exc}", field="credential") from None
    if not isinstance(credential, dict):
        raise InvalidRequest("Invalid credential: expected a service-account JSON object", field="credential")
    missing = [name for name in _SA_FIELDS if not isinstance(credential.get(name), str) or not credential[name]]
    if missing:
        raise InvalidRequest(f"Invalid credential: missing {', '.join(missing)}", field="credential")
    if credential["type"] != "service_account":
        raise InvalidRequest("Invalid credential: type must be service_account", field="credential.type")
    identifiers.check(identifiers.GCP_PROJECT, credential["project_id"], "credential.project_id")
    if not _SA_EMAIL.fullmatch(credential["client_email"]):
        raise InvalidRequest(
            "Invalid credential: client_email is not a service-account email", field="credential.client_email"
        )
    if not credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----"):
        raise InvalidRequest("Invalid credential: private_key is not a PEM private key", field="credential.private_key")
    canonical = json.dumps(credential, sort_keys=True).encode()
    if len(canonical) > _MAX_CREDENTIAL_BYTES:
        raise InvalidRequest("Invalid credential: too large", field="credential")
    metadata = {"project_id": credential["project_id"], "client_email": credential["client_email"]}
    return canonical, metadata


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag telling two stored keys apart (which one is configured)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def validate_admin_key(
    credential: object, *, label: str, admin_prefix: str, ordinary_prefixes: tuple[str, ...]
) -> tuple[bytes, dict[str, str]]:
    """Checks a vendor's organization admin key by its documented shape, before anything stores it."""
    if not isinstance(credential, str) or not credential:
        raise InvalidRequest(f"Invalid credential: expected the {label} admin key as a string", field="credential")
    key = credential.strip()
    if not key.startswith(admin_prefix):
        if key.startswith(ordinary_prefixes):
            raise InvalidRequest(
                f"Invalid credential: an admin key is required to read organization costs"
                f" ({label} admin keys start with {admin_prefix})",
                field="credential",
            )
        raise InvalidRequest(f"Invalid credential: {label} admin keys start with {admin_prefix}", field="credential")
    if len(key) > 512 or not _KEY_CHARS.fullmatch(key):
        raise InvalidRequest(f"Invalid credential: malformed {label} admin key", field="credential")
    return json.dumps({"admin_key": key}).encode(), {"fingerprint": fingerprint(key)}
