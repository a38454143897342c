"""OpenAI: an organization admin key, and the organization's costs and completions usage.

The admin key (``sk-admin-…``, made by an organization owner) is the only kind that can read the
organization's costs; a project key (``sk-proj-…``) is refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.integrations import validate_admin_key
from shared.providers import IntegrationKind, Provider, Source

OPENAI_ADMIN_KEY = "OPENAI_ADMIN_KEY"


def _validate(body: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    return validate_admin_key(
        body["credential"],
        label="OpenAI",
        admin_prefix="sk-admin-",
        ordinary_prefixes=("sk-proj-", "sk-svcacct-", "sk-"),
    )


PROVIDER = Provider(
    name="openai",
    label="OpenAI",
    integration=IntegrationKind(
        kind=OPENAI_ADMIN_KEY, validate=_validate, verify="shared.providers.openai.api:verify_key"
    ),
    sources={
        "admin_api.costs": Source(OPENAI_ADMIN_KEY),
        "admin_api.usage_completions": Source(OPENAI_ADMIN_KEY),
    },
    processors={"openai.admin_api": "shared.providers.openai.api:OpenAIAdminApi"},
)
