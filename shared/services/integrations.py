"""An org's provider credentials: validated, encrypted on the way in, metadata only on the way out."""

from __future__ import annotations

from typing import Any

from shared.domain import identifiers
from shared.domain.integrations import (
    INTEGRATION_FOR_PROVIDER,
    Integration,
    associated_data,
    is_local_placeholder,
    validate_gcp_service_account,
    validate_local_placeholder,
)
from shared.domain.orgs import Organization
from shared.domain.runs import iso, utcnow
from shared.errors import IntegrationNotConfigured, InvalidRequest, NotFound, TerminalError
from shared.json_input import UntrustedJsonError, loads_untrusted
from shared.pipelines.context import IntegrationSecret
from shared.ports import Backend

SETUP_FIELDS = {"credential", "billing_export_table"}


def integration_type_for(provider: str) -> str:
    if provider not in INTEGRATION_FOR_PROVIDER:
        raise NotFound("Unknown provider")
    return INTEGRATION_FOR_PROVIDER[provider]


def set_up(backend: Backend, org: Organization, provider: str, body: dict[str, Any]) -> Integration:
    integration_type = integration_type_for(provider)
    unknown = sorted(set(body) - SETUP_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}", field=unknown[0])
    if "credential" not in body:
        raise InvalidRequest("Missing field: credential", field="credential")
    credential = body["credential"]
    metadata: dict[str, Any]
    if is_local_placeholder(credential):
        from shared.settings import get_settings

        if get_settings().warehouse != "duckdb":
            raise InvalidRequest(
                "Invalid credential: a local placeholder works on the local stack only; "
                "this deployment reads BigQuery and needs a service-account key",
                field="credential",
            )
        assert isinstance(credential, dict)
        canonical, metadata = validate_local_placeholder(credential)
    else:
        canonical, metadata = validate_gcp_service_account(credential)
    metadata["billing_export_table"] = identifiers.table_id(body.get("billing_export_table"))
    envelope = backend.keys.encrypt(canonical, associated_data(org.slug, integration_type))
    now = iso(utcnow())
    existing = backend.store.get_integration(org.slug, integration_type)
    integration = Integration(
        org_slug=org.slug,
        integration_type=integration_type,
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
