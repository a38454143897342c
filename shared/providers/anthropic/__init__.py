"""Anthropic: an organization admin key, and the organization's cost report and messages usage.

The Admin API key (``sk-ant-admin…``) is the only kind that can read the organization's cost
report; an ordinary API key (``sk-ant-api…``) is refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.integrations import validate_admin_key
from shared.providers import IntegrationKind, Provider, Source

ANTHROPIC_ADMIN_KEY = "ANTHROPIC_ADMIN_KEY"


def _validate(body: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    return validate_admin_key(
        body["credential"], label="Anthropic", admin_prefix="sk-ant-admin", ordinary_prefixes=("sk-ant-",)
    )


PROVIDER = Provider(
    name="anthropic",
    label="Anthropic",
    integration=IntegrationKind(
        kind=ANTHROPIC_ADMIN_KEY, validate=_validate, verify="shared.providers.anthropic.api:verify_key"
    ),
    sources={
        "admin_api.cost_report": Source(ANTHROPIC_ADMIN_KEY),
        "admin_api.usage_messages": Source(ANTHROPIC_ADMIN_KEY),
    },
    processors={"anthropic.admin_api": "shared.providers.anthropic.api:AnthropicAdminApi"},
)
