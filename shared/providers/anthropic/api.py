"""Anthropic's Admin API: ``GET /v1/organizations/cost_report`` and
``GET /v1/organizations/usage_report/messages`` (``x-api-key: <admin key>``,
``anthropic-version: 2023-06-01``, RFC 3339 ``starting_at``/``ending_at``, daily buckets,
``group_by[]``, cursor pages).

Cost amounts are decimal strings in cents (``"123.4567"``): converted to currency units by moving
the decimal point, exactly. The default workspace comes back as ``workspace_id: null`` and is kept
as NULL, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.errors import TerminalError
from shared.providers.admin_api import AdminApiFetch, Endpoint, Vendor, cents_to_units, verify
from shared.settings import Settings

API_VERSION = "2023-06-01"
TOKEN_FIELDS = (
    "uncached_input_tokens",
    "cache_creation_ephemeral_1h_input_tokens",
    "cache_creation_ephemeral_5m_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)


def _cost(result: Mapping[str, Any]) -> dict[str, Any]:
    currency = result.get("currency")
    if not isinstance(currency, str):
        raise TerminalError("Anthropic sent a cost without a currency")
    return {
        "workspace_id": result.get("workspace_id"),
        "description": result.get("description"),
        "cost_type": result.get("cost_type"),
        "model": result.get("model"),
        "service_tier": result.get("service_tier"),
        "context_window": result.get("context_window"),
        "token_type": result.get("token_type"),
        "currency": currency.upper(),
        "amount": cents_to_units(result.get("amount"), "Anthropic"),
    }


def _nested(result: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = result.get(name)
    return value if isinstance(value, Mapping) else {}


def _usage(result: Mapping[str, Any]) -> dict[str, Any]:
    cache_creation = _nested(result, "cache_creation")
    return {
        "api_key_id": result.get("api_key_id"),
        "workspace_id": result.get("workspace_id"),
        "model": result.get("model"),
        "service_tier": result.get("service_tier"),
        "context_window": result.get("context_window"),
        "uncached_input_tokens": result.get("uncached_input_tokens"),
        "cache_creation_ephemeral_1h_input_tokens": cache_creation.get("ephemeral_1h_input_tokens"),
        "cache_creation_ephemeral_5m_input_tokens": cache_creation.get("ephemeral_5m_input_tokens"),
        "cache_read_input_tokens": result.get("cache_read_input_tokens"),
        "output_tokens": result.get("output_tokens"),
        "web_search_requests": _nested(result, "server_tool_use").get("web_search_requests"),
    }


class Anthropic(Vendor):
    provider = "anthropic"
    label = "Anthropic"
    base_url_env = "CLOUDACT_ANTHROPIC_API_BASE"
    base_url_default = "https://api.anthropic.com"
    group_by_param = "group_by[]"
    endpoints: ClassVar[Mapping[str, Endpoint]] = {
        "admin_api.cost_report": Endpoint(
            path="/v1/organizations/cost_report",
            group_by=("workspace_id", "description"),
            dimensions=(
                "workspace_id",
                "description",
                "cost_type",
                "model",
                "service_tier",
                "context_window",
                "token_type",
                "currency",
            ),
            measures=("amount",),
            flatten=_cost,
            amounts=("amount",),
        ),
        "admin_api.usage_messages": Endpoint(
            path="/v1/organizations/usage_report/messages",
            group_by=("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
            dimensions=("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
            measures=TOKEN_FIELDS,
            flatten=_usage,
        ),
    }

    def headers(self, admin_key: str) -> dict[str, str]:
        return {"x-api-key": admin_key, "anthropic-version": API_VERSION, "Accept": "application/json"}

    def time_params(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        return [("starting_at", _rfc3339(start)), ("ending_at", _rfc3339(end))]

    def bucket_start(self, bucket: Mapping[str, Any]) -> datetime:
        start = bucket.get("starting_at")
        try:
            return datetime.fromisoformat(str(start)).astimezone(UTC)
        except ValueError:
            raise TerminalError("Anthropic sent a bucket without a valid starting_at") from None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


VENDOR = Anthropic()


class AnthropicAdminApi(AdminApiFetch):
    vendor = VENDOR


def verify_key(credential: bytes, settings: Settings) -> None:
    verify(VENDOR, credential, "admin_api.cost_report", settings)
