"""Google Cloud: a service account's key, and the Cloud Billing export table it can read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain import identifiers
from shared.domain.integrations import (
    GCP_SA,
    is_local_placeholder,
    validate_gcp_service_account,
    validate_local_placeholder,
)
from shared.providers import IntegrationKind, Provider, Source


def _validate(body: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    credential = body["credential"]
    metadata: dict[str, Any]
    if is_local_placeholder(credential):
        # accepted on the embedded warehouse only: services/integrations refuses it elsewhere
        assert isinstance(credential, dict)
        canonical, metadata = validate_local_placeholder(credential)
    else:
        canonical, metadata = validate_gcp_service_account(credential)
    return canonical, {**metadata, "billing_export_table": identifiers.table_id(body.get("billing_export_table"))}


PROVIDER = Provider(
    name="gcp",
    label="Google Cloud",
    integration=IntegrationKind(
        kind=GCP_SA, validate=_validate, fields=frozenset({"credential", "billing_export_table"})
    ),
    # a source table id comes from the server-side integration record, never from a request
    sources={"integration.billing_export_table": Source(GCP_SA, "billing_export_table")},
    processors={"gcp.bq_etl": "shared.pipelines.processors.gcp_bq_etl:BigQueryEtl"},
)
