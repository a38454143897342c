"""An org's provider credentials: validated, encrypted on the way in, metadata only on the way out.

What a provider's credential looks like, which fields its set-up takes and how the vendor is asked
whether it accepts a key are the provider's own declaration (``shared.providers``).
"""

from __future__ import annotations

from typing import Any

from shared import providers
from shared.domain.integrations import Integration, IntegrationSecret, associated_data, is_local_placeholder
from shared.domain.orgs import Organization
from shared.domain.runs import iso, utcnow
from shared.errors import IntegrationNotConfigured, InvalidRequest, NotFound, TerminalError
from shared.json_input import UntrustedJsonError, loads_untrusted
from shared.ports import Backend
from shared.settings import Settings

VERIFY_FIELD = "verify"


def integration_type_for(provider: str) -> str:
    return providers.get(provider).integration.kind


def set_up(
    backend: Backend, settings: Settings, org: Organization, provider_name: str, body: dict[str, Any]
) -> Integration:
    provider = providers.get(provider_name)
    kind = provider.integration
    allowed = kind.fields | ({VERIFY_FIELD} if kind.verify else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])
    if "credential" not in body:
        raise InvalidRequest("Missing field: credential", field="credential")
    verify = body.get(VERIFY_FIELD, False)
    if not isinstance(verify, bool):
        raise InvalidRequest("Invalid verify: expected true or false", field=VERIFY_FIELD)
    if is_local_placeholder(body["credential"]) and settings.warehouse != "duckdb":
        raise InvalidRequest(
            "Invalid credential: a local placeholder works on the local stack only; "
            "this deployment reads BigQuery and needs a real credential",
            field="credential",
        )
    canonical, metadata = kind.validate(body)
    if verify and kind.verify:
        # the vendor's word before anything is stored: a key it rejects is never kept
        providers.resolve(kind.verify)(canonical, settings)
    envelope = backend.keys.encrypt(canonical, associated_data(org.slug, kind.kind))
    now = iso(utcnow())
    existing = backend.store.get_integration(org.slug, kind.kind)
    integration = Integration(
        org_slug=org.slug,
        integration_type=kind.kind,
        metadata=metadata,
        encrypted_credential=envelope,
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    backend.store.put_integration(integration)
    return integration


def list_for(backend: Backend, org: Organization) -> list[Integration]:
    return backend.store.list_integrations(org.slug)


def delete(backend: Backend, org: Organization, provider: str) -> None:
    if not backend.store.delete_integration(org.slug, integration_type_for(provider)):
        raise NotFound("Integration not found")


def require(backend: Backend, org_slug: str, integration_types: list[str]) -> None:
    for integration_type in integration_types:
        if backend.store.get_integration(org_slug, integration_type) is None:
            raise IntegrationNotConfigured("Required integration not configured", integration=integration_type)


def unseal(backend: Backend, org_slug: str, integration_type: str) -> IntegrationSecret:
    """Decrypts in memory, for the worker alone."""
    integration = backend.store.get_integration(org_slug, integration_type)
    if integration is None:
        raise IntegrationNotConfigured("Required integration not configured", integration=integration_type)
    plaintext = backend.keys.decrypt(integration.encrypted_credential, associated_data(org_slug, integration_type))
    try:
        credentials = loads_untrusted(plaintext)
    except UntrustedJsonError:
        # it decrypted, so it is ours; it was stored before today's checks or written by hand
        raise TerminalError(f"Stored {integration_type} credential is not readable JSON") from None
    return IntegrationSecret(metadata=dict(integration.metadata), credentials=credentials)
