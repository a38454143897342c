"""The synthetic vendors' data: a pure function of (organization, day, revision).

The HTTP fakes serve these records (summed per the request's ``group_by``), and tests compute the
expected figures from the same functions without going through HTTP. Records here are at the
finest grain each vendor reports; ``revision`` counts how many times a day was restated (0 = as
first published).

Amounts exercise exactness on purpose. OpenAI writes amounts as floats print: up to 17
significant digits and up to 18 decimals (``0.030862499999999998``). Every OpenAI day has a value
of 17 significant digits (``1.2345678901234567``), a tiny value in exponent form (``4.5e-07``) and
9-decimal values; an org whose ``max_decimals`` is 9 (what BigQuery NUMERIC holds) gets 17-digit
values with 9 decimals instead (``12345678.123456789``). Anthropic amounts are cents strings with
fractional cents (up to 7 decimals, so at most 9 in dollars).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shared.local_stack.fakes.orgs import DEFAULT_ORGS, FakeOrg, digest

# Enough digits that summing a day's amounts (17 significant digits each) never rounds.
EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])

OPENAI_MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-mini-2025-01-31", "gpt-4o-audio-preview-2024-12-17")
# (line item, model whose keys incur it or None when no API key is behind it)
OPENAI_LINE_ITEMS: tuple[tuple[str, bool], ...] = (
    *((f"{model}, {kind}", True) for model in OPENAI_MODELS[:3] for kind in ("input", "cached input", "output")),
    ("gpt-4o-audio-preview-2024-12-17, audio input", True),
    ("web search tool calls | gpt-4o", True),
    ("ft-gpt-4o-mini-2024-07-18, training", False),
    ("file search tool storage", False),
)
OPENAI_USAGE_TIERS: tuple[tuple[bool, str], ...] = ((False, "default"), (True, "default"), (False, "flex"))

ANTHROPIC_MODELS = (
    ("claude-sonnet-4-20250514", "Claude Sonnet 4"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1"),
)
ANTHROPIC_TOKEN_TYPES = (
    ("uncached_input_tokens", "Input Tokens"),
    ("output_tokens", "Output Tokens"),
    ("cache_read_input_tokens", "Input Tokens, Cache Hit"),
    ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write 5m"),
    ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens, Cache Write 1h"),
)
ANTHROPIC_OTHER_COSTS = (("Web Search Usage", "web_search"), ("Code Execution Usage", "code_execution"))
ANTHROPIC_CONTEXT_WINDOWS = ("0-200k", "200k-1M")


@dataclass(frozen=True)
class OpenAICost:
    """One ``organization.costs.result`` at the finest grain (project, line item, API key)."""

    usage_date: date
    project_id: str
    line_item: str
    api_key_id: str | None
    amount: Decimal  # USD, exactly as the JSON number the vendor writes
    currency: str = "USD"


@dataclass(frozen=True)
class AnthropicCost:
    """One cost-report result at the finest grain (workspace, description)."""

    usage_date: date
    workspace_id: str | None  # None: the default workspace
    description: str
    cost_type: str
    model: str | None
    service_tier: str | None
    context_window: str | None
    token_type: str | None
    amount_cents: Decimal  # what the vendor writes, in cents
    currency: str = "USD"

    @property
    def amount(self) -> Decimal:
        """In currency units (dollars), exact."""
        return self.amount_cents.scaleb(-2, EXACT)


@dataclass(frozen=True)
class OpenAIUsage:
    """One ``organization.usage.completions.result`` at the finest grain."""

    usage_date: date
    project_id: str
    user_id: str | None
    api_key_id: str
    model: str
    batch: bool
    service_tier: str
    input_tokens: int
    output_tokens: int
    input_cached_tokens: int
    input_audio_tokens: int
    output_audio_tokens: int
    num_model_requests: int


@dataclass(frozen=True)
class AnthropicUsage:
    """One messages usage-report result at the finest grain."""

    usage_date: date
    api_key_id: str | None  # None: usage from the Console (Workbench), not through a key
    workspace_id: str | None  # None: the default workspace
    model: str
    service_tier: str
    context_window: str
    uncached_input_tokens: int
    cache_creation_ephemeral_1h_input_tokens: int
    cache_creation_ephemeral_5m_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    web_search_requests: int


OPENAI_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
)
ANTHROPIC_TOKEN_FIELDS = (
    "uncached_input_tokens",
    "cache_creation_ephemeral_1h_input_tokens",
    "cache_creation_ephemeral_5m_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)


def _present(percent: int, *parts: object) -> bool:
    return digest("present", *parts) % 100 < percent


NINE_DECIMALS, MANY_DIGITS, SEVENTEEN_DIGITS, TINY, CENTS, WHOLE = range(6)
# Every day's first (project, line item) groups take these forms, so that every day shows each of
# them, also once a client sums a group's API keys.
FORCED_STYLES = (SEVENTEEN_DIGITS, TINY, NINE_DECIMALS)


def _last_digit_not_zero(value: int, n: int) -> int:
    # A trailing zero would shorten the number once normalised ("…780" is "…78").
    return value + 1 + n % 9 if value % 10 == 0 else value


def _openai_amount(max_decimals: int, forced: int | None, *parts: object) -> Decimal:
    h = digest("amount", *parts)
    n = h // 8
    style = (
        forced
        if forced is not None
        else (NINE_DECIMALS, NINE_DECIMALS, MANY_DIGITS, MANY_DIGITS, TINY, CENTS, CENTS, WHOLE)[h % 8]
    )
    decimals = min(9, max_decimals)
    if style == NINE_DECIMALS:
        return Decimal(_last_digit_not_zero(n % (50 * 10**9), n)).scaleb(-decimals)
    if style == SEVENTEEN_DIGITS:
        # 17 significant digits, the most a float prints: 1.2345678901234567, or with at most 9
        # decimals an eight-digit whole part (12345678.123456789).
        digits = _last_digit_not_zero(10**16 + n % (9 * 10**16 - 10), n)
        return Decimal(digits).scaleb(-min(16, max_decimals))
    if style == MANY_DIGITS:
        if max_decimals > 9:  # what float arithmetic leaves behind: 0.030862499999999998
            return Decimal(10**16 + n % (9 * 10**16)).scaleb(-min(17 + n % 2, max_decimals))
        return Decimal(n % 10**12 + 1).scaleb(-decimals)
    if style == TINY:  # the vendor writes it in exponent form: 4.5e-07; two of them stay < 1e-6
        return Decimal((45, 12, 7, 5, 25)[n % 5]).scaleb(-min(8 + (n // 5) % 2, max_decimals))
    if style == CENTS:
        return Decimal(n % 10000 + 1).scaleb(-2)
    return Decimal(n % 100 + 1)


def _anthropic_cents(forced: int | None, *parts: object) -> Decimal:
    h = digest("cents", *parts)
    style, n = (h % 4 if forced is None else forced), h // 4
    if style == 0:  # "1234.5678": fractional cents
        return Decimal(_last_digit_not_zero(n % 10**8, n)).scaleb(-4)
    if style == 1:
        return Decimal(n % 10**6 + 1).scaleb(-2)
    if style == 2:  # nine decimals once in dollars
        return Decimal(_last_digit_not_zero(n % 10**10, n)).scaleb(-7)
    return Decimal(n % 10**4 + 1).scaleb(-5)  # a fraction of a cent


def openai_costs(org: FakeOrg, day: date, revision: int = 0) -> list[OpenAICost]:
    _check(org, "openai")
    records: list[OpenAICost] = []
    groups = 0
    keys_by_project = {p: [k for k in org.api_keys if k.owner_id == p] for p in org.projects}
    for project in org.projects:
        for line_item, keyed in OPENAI_LINE_ITEMS:
            if not _present(65, org.seed, day, revision, project, line_item):
                continue
            form = FORCED_STYLES[groups] if groups < len(FORCED_STYLES) else None
            key_ids: list[str | None] = [k.id for k in keys_by_project[project]] if keyed else [None]
            group: list[OpenAICost] = []
            for key_id in key_ids:
                if keyed and not _present(70, org.seed, day, revision, project, line_item, key_id):
                    continue
                # In a forced group the form's record is the first; the others keep to whole cents so
                # that the group's sum still shows the form (tiny ones are all tiny).
                forced = form if form is None or form == TINY or not group else CENTS
                amount = _openai_amount(org.max_decimals, forced, org.seed, day, revision, project, line_item, key_id)
                group.append(OpenAICost(day, project, line_item, key_id, amount))
            if group:
                groups += 1
                records.extend(group)
    return records


def anthropic_costs(org: FakeOrg, day: date, revision: int = 0) -> list[AnthropicCost]:
    _check(org, "anthropic")
    lines: list[tuple[str, str, str | None, str | None, str | None, str | None]] = []
    for model, name in ANTHROPIC_MODELS:
        for token_type, label in ANTHROPIC_TOKEN_TYPES:
            for tier in ("standard", "batch"):
                if tier == "batch" and token_type not in ("uncached_input_tokens", "output_tokens"):
                    continue
                windows = _windows(model)
                for window in windows:
                    if window != "0-200k" and tier != "standard":
                        continue
                    description = f"{name} Usage - {label}"
                    description += " (Batch)" if tier == "batch" else ""
                    description += ", Long Context" if window != "0-200k" else ""
                    lines.append((description, "tokens", model, tier, window, token_type))
    lines.extend((other, cost_type, None, None, None, None) for other, cost_type in ANTHROPIC_OTHER_COSTS)
    records: list[AnthropicCost] = []
    for workspace in org.workspaces:
        for line in lines:
            if not _present(45, org.seed, day, revision, workspace, line[0]):
                continue
            forced = (0, 2)[len(records)] if len(records) < 2 else None
            cents = _anthropic_cents(forced, org.seed, day, revision, workspace, line[0])
            records.append(AnthropicCost(day, workspace, *line, amount_cents=cents))
    return records


def _windows(model: str) -> tuple[str, ...]:
    # Only the Sonnet 4 models take the long (1M) context window.
    return ANTHROPIC_CONTEXT_WINDOWS if model.startswith("claude-sonnet-4") else ANTHROPIC_CONTEXT_WINDOWS[:1]


def _tokens(low: int, high: int, *parts: object) -> int:
    return low + digest("tokens", *parts) % (high - low + 1)


def openai_usage(org: FakeOrg, day: date, revision: int = 0) -> list[OpenAIUsage]:
    _check(org, "openai")
    records: list[OpenAIUsage] = []
    for key in org.api_keys:
        assert key.owner_id is not None
        for model in OPENAI_MODELS:
            for batch, tier in OPENAI_USAGE_TIERS:
                parts = (org.seed, day, revision, key.id, model, batch, tier)
                if not _present(40, *parts):
                    continue
                input_tokens = _tokens(1_000, 5_000_000, "in", *parts)
                audio = model.startswith("gpt-4o-audio")
                records.append(
                    OpenAIUsage(
                        usage_date=day,
                        project_id=key.owner_id,
                        user_id=key.user_id,
                        api_key_id=key.id,
                        model=model,
                        batch=batch,
                        service_tier=tier,
                        input_tokens=input_tokens,
                        output_tokens=_tokens(100, 1_000_000, "out", *parts),
                        input_cached_tokens=_tokens(0, input_tokens // 2, "cached", *parts),
                        input_audio_tokens=_tokens(1, 200_000, "audio-in", *parts) if audio else 0,
                        output_audio_tokens=_tokens(1, 100_000, "audio-out", *parts) if audio else 0,
                        num_model_requests=_tokens(1, 20_000, "requests", *parts),
                    )
                )
    return records


def anthropic_usage(org: FakeOrg, day: date, revision: int = 0) -> list[AnthropicUsage]:
    _check(org, "anthropic")
    callers: list[tuple[str | None, str | None]] = [(k.id, k.owner_id) for k in org.api_keys]
    callers.append((None, None))  # the Console's own usage: no key, default workspace
    records: list[AnthropicUsage] = []
    for key_id, workspace in callers:
        for model, _ in ANTHROPIC_MODELS:
            for tier in ("standard", "batch"):
                windows = _windows(model)
                for window in windows:
                    parts = (org.seed, day, revision, key_id, workspace, model, tier, window)
                    if not _present(35, *parts):
                        continue
                    records.append(
                        AnthropicUsage(
                            usage_date=day,
                            api_key_id=key_id,
                            workspace_id=workspace,
                            model=model,
                            service_tier=tier,
                            context_window=window,
                            uncached_input_tokens=_tokens(500, 4_000_000, "in", *parts),
                            cache_creation_ephemeral_1h_input_tokens=_tokens(0, 300_000, "1h", *parts),
                            cache_creation_ephemeral_5m_input_tokens=_tokens(0, 600_000, "5m", *parts),
                            cache_read_input_tokens=_tokens(0, 2_000_000, "read", *parts),
                            output_tokens=_tokens(100, 900_000, "out", *parts),
                            web_search_requests=_tokens(0, 40, "search", *parts) if tier == "standard" else 0,
                        )
                    )
    return records


def second_of_day(record: OpenAIUsage | AnthropicUsage, org: FakeOrg, revision: int = 0) -> int:
    """Where in its day a usage record falls (for 1h and 1m buckets): a whole minute."""
    return int(digest("when", org.seed, revision, record) % 1440) * 60


def _check(org: FakeOrg, vendor: str) -> None:
    if org.vendor != vendor:
        raise ValueError(f"{org.org_id} is an {org.vendor} organization, not {vendor}")


# Ground truth, for tests: the same records as the fakes serve, without HTTP.


def resolve_org(org: FakeOrg | str, orgs: Iterable[FakeOrg] = DEFAULT_ORGS) -> FakeOrg:
    """An org given as itself, its admin key or its id (looked up among ``orgs``)."""
    if isinstance(org, FakeOrg):
        return org
    for candidate in orgs:
        if org in (candidate.admin_key, candidate.org_id):
            return candidate
    raise KeyError("no such fake organization (give the FakeOrg, its admin key or its org id)")


def expected_costs(org: FakeOrg | str, day: date, revision: int = 0) -> list[OpenAICost] | list[AnthropicCost]:
    """The day's cost records at the vendor's finest grain; ``.amount`` is in currency units."""
    found = resolve_org(org)
    if found.vendor == "openai":
        return openai_costs(found, day, revision)
    return anthropic_costs(found, day, revision)


def expected_usage(org: FakeOrg | str, day: date, revision: int = 0) -> list[OpenAIUsage] | list[AnthropicUsage]:
    found = resolve_org(org)
    if found.vendor == "openai":
        return openai_usage(found, day, revision)
    return anthropic_usage(found, day, revision)


def expected_cost_total(org: FakeOrg | str, day: date, revision: int = 0) -> Decimal:
    """The day's total cost in currency units (USD), exact."""
    return sum_exact(record.amount for record in expected_costs(org, day, revision))


def expected_token_totals(org: FakeOrg | str, day: date, revision: int = 0) -> dict[str, int]:
    """The day's token counts summed per field (the vendor's field names; Anthropic's nested
    fields flattened as ``cache_creation_ephemeral_1h_input_tokens``, ``web_search_requests``)."""
    found = resolve_org(org)
    records: Sequence[Any] = expected_usage(found, day, revision)
    fields = OPENAI_TOKEN_FIELDS if found.vendor == "openai" else ANTHROPIC_TOKEN_FIELDS
    return {name: sum(getattr(record, name) for record in records) for name in fields}


def totals_by(records: Iterable[Any], *fields: str, value: str = "amount") -> dict[tuple[Any, ...], Any]:
    """Sums ``value`` of ``records`` per combination of ``fields`` (what a ``group_by`` returns)."""
    totals: dict[tuple[Any, ...], Any] = {}
    for record in records:
        key = tuple(getattr(record, name) for name in fields)
        amount = getattr(record, value)
        if key not in totals:
            totals[key] = amount
        elif isinstance(amount, Decimal):
            totals[key] = EXACT.add(totals[key], amount)
        else:
            totals[key] += amount
    return totals


def sum_exact(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total
