"""OpenAI's organization admin API: ``GET /v1/organization/costs`` and
``GET /v1/organization/usage/completions`` (``Authorization: Bearer <admin key>``, Unix-second
``start_time``/``end_time``, daily buckets, ``group_by``, cursor pages).

Cost amounts are JSON numbers (``{"value": 0.06, "currency": "usd"}``): read as exact decimals,
never floats, and the currency stored upper-case (ISO 4217).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.errors import TerminalError
from shared.providers.admin_api import AdminApiFetch, Endpoint, Vendor, verify
from shared.settings import Settings

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
)


def _cost(result: Mapping[str, Any]) -> dict[str, Any]:
    amount = result.get("amount")
    if not isinstance(amount, Mapping) or not isinstance(amount.get("currency"), str):
        raise TerminalError("OpenAI sent a cost without an amount and currency")
    return {
        "project_id": result.get("project_id"),
        "line_item": result.get("line_item"),
        "api_key_id": result.get("api_key_id"),
        "currency": amount["currency"].upper(),
        "amount": amount.get("value"),
    }


def _usage(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "project_id": result.get("project_id"),
        "api_key_id": result.get("api_key_id"),
        "model": result.get("model"),
        "batch": result.get("batch"),
        "service_tier": result.get("service_tier"),
        **{name: result.get(name) for name in TOKEN_FIELDS},
    }


class OpenAI(Vendor):
    provider = "openai"
    label = "OpenAI"
    base_url_env = "CLOUDACT_OPENAI_API_BASE"
    base_url_default = "https://api.openai.com"
    endpoints: ClassVar[Mapping[str, Endpoint]] = {
        "admin_api.costs": Endpoint(
            path="/v1/organization/costs",
            group_by=("project_id", "line_item", "api_key_id"),
            dimensions=("project_id", "line_item", "api_key_id", "currency"),
            measures=("amount",),
            flatten=_cost,
            amounts=("amount",),
        ),
        "admin_api.usage_completions": Endpoint(
            path="/v1/organization/usage/completions",
            group_by=("project_id", "api_key_id", "model", "batch", "service_tier"),
            dimensions=("project_id", "api_key_id", "model", "batch", "service_tier"),
            measures=TOKEN_FIELDS,
            flatten=_usage,
        ),
    }

    def headers(self, admin_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {admin_key}", "Accept": "application/json"}

    def time_params(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        return [("start_time", str(int(start.timestamp()))), ("end_time", str(int(end.timestamp())))]

    def bucket_start(self, bucket: Mapping[str, Any]) -> datetime:
        start = bucket.get("start_time")
        if isinstance(start, bool) or not isinstance(start, int):
            raise TerminalError("OpenAI sent a bucket without a start_time")
        return datetime.fromtimestamp(start, UTC)


VENDOR = OpenAI()


class OpenAIAdminApi(AdminApiFetch):
    vendor = VENDOR


def verify_key(credential: bytes, settings: Settings) -> None:
    verify(VENDOR, credential, "admin_api.costs", settings)
