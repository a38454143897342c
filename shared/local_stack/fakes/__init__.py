"""Local fakes of the OpenAI and Anthropic admin cost and usage APIs.

They answer the documented endpoints with the vendors' request and response shapes, strict auth
and parameter checks, pagination and fault knobs, over deterministic synthetic organizations, so
the cost pipelines run (and are tested) without the vendors. As the vendors' own, each cost report
derives from its usage report: every token cost line is the usage of its grain times a list price
(``data.OPENAI_PRICES``, ``data.ANTHROPIC_PRICES``; ``list_price_per_1000(record)``), so without a
fault every token line has its usage and every FOCUS unit price is a list price (see ``data``).

Served (one base URL for both; the paths do not collide):

- OpenAI, ``Authorization: Bearer <admin key>``: ``GET /v1/organization/costs`` (``start_time``
  required, ``end_time``, ``bucket_width=1d``, ``group_by`` ⊂ {project_id, line_item,
  api_key_id}, ``project_ids``, ``api_key_ids``, ``limit`` 1-180 default 7, ``page``) and
  ``GET /v1/organization/usage/completions`` (``bucket_width`` 1m/1h/1d, ``group_by`` ⊂
  {project_id, user_id, api_key_id, model, batch, service_tier}, filters ``project_ids``,
  ``user_ids``, ``api_key_ids``, ``models``, ``batch``; limit per width 7/31, 24/168, 60/1440).
  Amounts are JSON numbers written digit for digit from ``Decimal``, currency ``"usd"``, as the
  vendor's floats print (a token line: the float product of its tokens and the price per token):
  up to 17 significant digits and 18 decimals (``0.030862499999999998``). Every day has a
  17-significant-digit amount (``1.2345678901234567``), a tiny one in exponent form (``4.5e-07``)
  and 9-decimal ones; an org with ``max_decimals=9`` (BigQuery NUMERIC) gets
  ``12345678.123456789`` instead and nothing beyond 9 decimals.
- Anthropic, ``x-api-key: <admin key>`` and ``anthropic-version: 2023-06-01``:
  ``GET /v1/organizations/cost_report`` (``starting_at`` RFC 3339 required, ``ending_at``,
  ``bucket_width=1d``, ``group_by[]`` ⊂ {workspace_id, description}, ``limit`` 1-31 default 7,
  ``page``) and ``GET /v1/organizations/usage_report/messages`` (``bucket_width`` 1m/1h/1d,
  ``group_by[]`` ⊂ {api_key_id, workspace_id, model, service_tier, context_window}, filters
  ``api_key_ids``, ``workspace_ids``, ``models``, ``service_tiers``, ``context_window``). Cost
  amounts are decimal strings in cents (``"1234.5678"``); the default workspace is
  ``workspace_id: null``.
- Array parameters are accepted as ``name[]=a`` (the official SDKs), ``name=a&name=b`` and
  ``name[0]=a``. Unknown parameters, bad types or values, ``end <= start``, a start before the
  org's ``data_start`` (``DEFAULT_DATA_START`` for the default orgs) are 400; a missing or unknown
  key is 401, an ordinary (non-admin) key 403; errors come in each vendor's shape (OpenAI
  ``{"error": {"message", "type", "param", "code"}}``, Anthropic ``{"type": "error", "error":
  {"type", "message"}, "request_id"}``).
- Pages: ``limit`` buckets per page, ``has_more`` and an opaque ``next_page`` cursor (valid only
  for the same query); with ``max_results_per_page`` set, a bucket's results may continue on the
  next page under the same bucket (clients append results per bucket). Buckets are UTC-aligned,
  start at the snapped start and stop at the end or at now (the day under way is served whole). A
  bucket with no usage has ``results: []``.

Python interface (``from shared.local_stack.fakes import ...``):

- ``FakeServer(fakes=None, host="127.0.0.1", port=0)``: ``start()``, ``stop()``, ``base_url``,
  ``env`` (``CLOUDACT_OPENAI_API_BASE`` and ``CLOUDACT_ANTHROPIC_API_BASE`` → ``base_url``),
  ``fakes``; a context manager.
- ``VendorFakes(orgs=DEFAULT_ORGS, now=None)``: the WSGI app. ``faults`` (``add(status=, times=,
  retry_after=, delay_s=, vendor=, path=, org_id=)``, ``rate_limit(times, retry_after)``,
  ``server_error(times, status=500)``, ``slow(delay_s, times)``, ``pending()``, ``clear()``),
  ``restate(vendor, day, org_id=None, report=None) -> {org_id: revision}`` (``report``: ``costs`` or
  ``usage`` restates that report alone), ``revision(org, day, report="costs")``,
  ``lag_usage(vendor, day, org_id=None, lagging=True) -> {org_id: usage revision}`` (the day's usage
  report lags its costs: it misses every record of some cost lines' grains, ``late_grains``, so
  those token lines have no usage, until ``lagging=False`` or a restatement of the usage),
  ``lagging(org, day)``, ``lags()``,
  ``add_org(FakeOrg)``, ``org(key_or_id)``, ``max_results_per_page`` (None or n), ``reset()``,
  ``log`` (``entries``, ``count(path, key=, org_id=, status=)``, ``counts_by_path()``,
  ``fingerprints(path)``), and ground truth at the current revision: ``expected_costs``,
  ``expected_usage``, ``expected_cost_total``, ``expected_token_totals`` (org as ``FakeOrg``, admin
  key or org id; a ``date``).
- Organizations: ``FakeOrg(vendor, admin_key, seed, org_id="", data_start=DEFAULT_DATA_START,
  owners=3, max_decimals=18)`` and ``new_org(vendor, seed, admin_key=None, ...)``; ``DEFAULT_OPENAI_ORG``,
  ``DEFAULT_ANTHROPIC_ORG`` with ``DEFAULT_OPENAI_ADMIN_KEY`` (``sk-admin-…``) and
  ``DEFAULT_ANTHROPIC_ADMIN_KEY`` (``sk-ant-admin01-…``); ``key_fingerprint(key)`` is what the log
  keeps of a key.
- Ground truth without HTTP (module functions, revision 0 unless given): ``expected_costs(org,
  day, revision=0)`` → ``OpenAICost`` / ``AnthropicCost`` records at the finest grain, ``.amount``
  a ``Decimal`` in currency units (Anthropic: ``amount_cents / 100``); ``expected_usage`` (and
  ``expected_token_totals``) ``(org, day, revision=0, lagging=False)``; ``expected_cost_total``;
  ``expected_token_totals`` (Anthropic's nested fields flattened:
  ``cache_creation_ephemeral_1h_input_tokens``, ``web_search_requests``); ``totals_by(records,
  *fields)`` sums per group; ``list_price_per_1000(record)``: a cost line's list price per 1000
  tokens (or searches), None for a line with an amount of its own; ``late_grains(org, day,
  revision=0)``: what a lagging usage report misses.

HTTP knobs (JSON bodies; answers are JSON; errors ``{"error": {"code", "message", "field"?}}``):

- ``POST /_fake/faults`` ``{"status": 429|500|503|529|null, "times": 1, "retry_after": 1,
  "delay_s": 0, "vendor": "openai"|"anthropic"|null, "path": "/v1/…"|null, "org_id": null}``
  → 201 ``{"fault": {...}}``; ``GET /_fake/faults``; ``DELETE /_fake/faults``.
- ``POST /_fake/restate`` ``{"vendor": "openai", "day": "2025-06-01", "org_id": null, "report": null}``
  (``report``: ``"costs"`` or ``"usage"`` for that report alone) → 200
  ``{"vendor", "day", "revisions": {org_id: n}}``.
- ``POST /_fake/orgs`` ``{"vendor", "seed", "admin_key"?, "org_id"?, "data_start"?, "owners"?,
  "max_decimals"?}``
  → 201 ``{"org": {...}}`` (never the key: its fingerprint); ``GET /_fake/orgs``.
- ``POST /_fake/usage_lag`` ``{"vendor", "day", "org_id": null, "lagging": true}`` → 200
  ``{"vendor", "day", "lagging", "revisions": {org_id: usage revision}}``; ``GET /_fake/usage_lag``
  → ``{"lagging": [{"org_id", "day", "revision"}]}``.
- ``POST /_fake/paging`` ``{"max_results_per_page": 5|null}``: at most that many results per
  page, a larger bucket continuing on the next page (so one day can span ≥ 3 pages).
- ``POST /_fake/reset`` → 200 (initial orgs, no fault, no restatement, no lag, empty log).
- ``GET /_fake/requests`` → ``{"counts": {path: n}, "requests": [{method, path, status, vendor,
  org_id, key_fingerprint, query, at}]}``; ``GET /_fake/healthz``.

``FakesControl(base_url)`` makes these calls from Python (``add_fault(**knobs)``, ``faults()``,
``clear_faults()``, ``restate(vendor, day, org_id=None, report=None)``, ``lag_usage(vendor, day,
org_id=None, lagging=True)``, ``lags()``, ``add_org(FakeOrg)``, ``orgs()``,
``set_max_results_per_page(n)``, ``reset()``, ``requests()``, ``healthy()``); it raises
``FakesControlError`` (``status``, ``body``) on a refusal.

``python -m shared.local_stack.fakes --port N`` runs them on their own and prints the base URL.
"""

from __future__ import annotations

from shared.local_stack.fakes.app import (
    ANTHROPIC_VERSIONS,
    Fault,
    Faults,
    LoggedRequest,
    RequestLog,
    VendorFakes,
    dumps,
    json_number,
)
from shared.local_stack.fakes.control import FakesControl, FakesControlError
from shared.local_stack.fakes.data import (
    AnthropicCost,
    AnthropicUsage,
    OpenAICost,
    OpenAIUsage,
    anthropic_costs,
    anthropic_usage,
    expected_cost_total,
    expected_costs,
    expected_token_totals,
    expected_usage,
    late_grains,
    list_price_per_1000,
    openai_costs,
    openai_usage,
    totals_by,
)
from shared.local_stack.fakes.orgs import (
    DEFAULT_ANTHROPIC_ADMIN_KEY,
    DEFAULT_ANTHROPIC_ORG,
    DEFAULT_ANTHROPIC_ORG_ID,
    DEFAULT_DATA_START,
    DEFAULT_OPENAI_ADMIN_KEY,
    DEFAULT_OPENAI_ORG,
    DEFAULT_OPENAI_ORG_ID,
    DEFAULT_ORGS,
    FakeOrg,
    Vendor,
    key_fingerprint,
    new_org,
)
from shared.local_stack.fakes.server import FakeServer

OPENAI_COSTS_PATH = "/v1/organization/costs"
OPENAI_USAGE_PATH = "/v1/organization/usage/completions"
ANTHROPIC_COSTS_PATH = "/v1/organizations/cost_report"
ANTHROPIC_USAGE_PATH = "/v1/organizations/usage_report/messages"

__all__ = [
    "ANTHROPIC_COSTS_PATH",
    "ANTHROPIC_USAGE_PATH",
    "ANTHROPIC_VERSIONS",
    "DEFAULT_ANTHROPIC_ADMIN_KEY",
    "DEFAULT_ANTHROPIC_ORG",
    "DEFAULT_ANTHROPIC_ORG_ID",
    "DEFAULT_DATA_START",
    "DEFAULT_OPENAI_ADMIN_KEY",
    "DEFAULT_OPENAI_ORG",
    "DEFAULT_OPENAI_ORG_ID",
    "DEFAULT_ORGS",
    "OPENAI_COSTS_PATH",
    "OPENAI_USAGE_PATH",
    "AnthropicCost",
    "AnthropicUsage",
    "FakeOrg",
    "FakeServer",
    "FakesControl",
    "FakesControlError",
    "Fault",
    "Faults",
    "LoggedRequest",
    "OpenAICost",
    "OpenAIUsage",
    "RequestLog",
    "Vendor",
    "VendorFakes",
    "anthropic_costs",
    "anthropic_usage",
    "dumps",
    "expected_cost_total",
    "expected_costs",
    "expected_token_totals",
    "expected_usage",
    "json_number",
    "key_fingerprint",
    "late_grains",
    "list_price_per_1000",
    "new_org",
    "openai_costs",
    "openai_usage",
    "totals_by",
]
