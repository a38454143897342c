"""The synthetic vendors' data: a pure function of (organization, day, revision).

The HTTP fakes serve these records (summed per the request's ``group_by``), and tests compute the
expected figures from the same functions without going through HTTP. Records here are at the
finest grain each vendor reports; ``revision`` counts how many times a day was restated (0 = as
first published).

Costs derive from usage, as the vendors' do. The usage records are drawn first; each token cost
line is then the tokens of its grain (the grain docs/focus.md joins on: OpenAI project, API key
and model over batch and service tiers, the line item naming the kind; Anthropic workspace, model,
service tier and context window over API keys, the token type naming the field) times its list
price (``OPENAI_PRICES``, ``ANTHROPIC_PRICES``: USD per 1M tokens; Anthropic's long context and
batch multipliers, web search at USD 10 per 1,000 searches). A count of 0 gives no line, so no
token line is without usage and no usage goes unbilled. The lines the usage reports do not count
(OpenAI's web search tool calls, fine-tuning, file search storage; Anthropic's code execution)
keep amounts of their own. A cost report of revision n prices the usage of revision n: restating
one report alone, or a lagging usage report (``late_grains``, the fakes' usage-lag knob), is what
makes them disagree.

Amounts exercise exactness on purpose. OpenAI writes amounts as floats print: the binary float
product of the count and the price per token, as ``repr`` writes it (up to 17 significant digits:
``3.0864175000000003``, ``4.5e-07``), rounded half-even to the org's ``max_decimals`` (18; 9 for
what BigQuery NUMERIC holds) when it has more. Three token counts a day are chosen so that every
day shows every form, also summed over a project's keys: a tiny amount in exponent form
(``4.5e-07``), one of exactly 9 decimals (``1.500000075``) and one of 17 significant digits
(``1.2345678901234567``; with 9 decimals, ``12345678.123456789``). Anthropic amounts are exact
cents strings with fractional cents (up to 7 decimals, so at most 9 in dollars; one a day has 7).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from shared.local_stack.fakes.orgs import DEFAULT_ORGS, FakeOrg, digest

# Enough digits that summing a day's amounts (17 significant digits each) never rounds.
EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])

OPENAI_MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-mini-2025-01-31", "gpt-4o-audio-preview-2024-12-17")
# The lines the usage report does not count: (line item, whether an API key is behind it)
OPENAI_OTHER_LINE_ITEMS: tuple[tuple[str, bool], ...] = (
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
ANTHROPIC_CONTEXT_WINDOWS = ("0-200k", "200k-1M")
ANTHROPIC_TIERS = ("standard", "batch")


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


# --- Prices: what a cost line is per token (or per search) --------------------------------------

MILLION = Decimal(1_000_000)
# OpenAI, USD per 1M tokens, per model and line item kind. The line items name no batch or flex
# tier (and the FOCUS join sums usage over tiers), so a line has one price whatever the tier of
# its usage. The audio model's text tokens are priced as gpt-4o's; it caches nothing.
OPENAI_PRICES: dict[str, dict[str, Decimal]] = {
    "gpt-4o-2024-08-06": {"input": Decimal("2.50"), "cached input": Decimal("1.25"), "output": Decimal("10.00")},
    "gpt-4o-mini-2024-07-18": {"input": Decimal("0.15"), "cached input": Decimal("0.075"), "output": Decimal("0.60")},
    "o3-mini-2025-01-31": {"input": Decimal("1.10"), "cached input": Decimal("0.55"), "output": Decimal("4.40")},
    "gpt-4o-audio-preview-2024-12-17": {
        "input": Decimal("2.50"),
        "output": Decimal("10.00"),
        "audio input": Decimal("40.00"),
        "audio output": Decimal("80.00"),
    },
}
# Anthropic, USD per 1M tokens at the standard tier within 200k tokens of context. The long (1M)
# context window doubles the input prices (cache writes and hits included) and multiplies output
# by 1.5; the batch tier halves every price. Web search: USD 10 per 1,000 searches.
ANTHROPIC_PRICES: dict[str, dict[str, Decimal]] = {
    "claude-sonnet-4-20250514": {
        "uncached_input_tokens": Decimal("3"),
        "output_tokens": Decimal("15"),
        "cache_read_input_tokens": Decimal("0.30"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("3.75"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("6"),
    },
    "claude-3-5-haiku-20241022": {
        "uncached_input_tokens": Decimal("0.80"),
        "output_tokens": Decimal("4"),
        "cache_read_input_tokens": Decimal("0.08"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("1"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("1.60"),
    },
    "claude-opus-4-1-20250805": {
        "uncached_input_tokens": Decimal("15"),
        "output_tokens": Decimal("75"),
        "cache_read_input_tokens": Decimal("1.50"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("18.75"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("30"),
    },
}
ANTHROPIC_LONG_CONTEXT = {token_type: Decimal(2) for token_type in ANTHROPIC_PRICES["claude-sonnet-4-20250514"]}
ANTHROPIC_LONG_CONTEXT["output_tokens"] = Decimal("1.5")
ANTHROPIC_BATCH = Decimal("0.5")
ANTHROPIC_WEB_SEARCH_PER_1000 = Decimal(10)


# Every line item, in the order a project's cost lines come: (line item, whether an API key is behind it)
OPENAI_LINE_ITEMS: tuple[tuple[str, bool], ...] = (
    *((f"{model}, {kind}", True) for model, kinds in OPENAI_PRICES.items() for kind in kinds),
    *OPENAI_OTHER_LINE_ITEMS,
)


def openai_price(line_item: str) -> Decimal | None:
    """USD per 1M tokens of an OpenAI token line item (``gpt-4o-2024-08-06, cached input``); None
    for a line the usage report does not count (web search tool calls, fine-tuning, storage)."""
    model, _, kind = (part.strip() for part in line_item.partition(","))
    return OPENAI_PRICES.get(model, {}).get(kind)


def anthropic_price(model: str, token_type: str, service_tier: str, context_window: str) -> Decimal:
    """USD per 1M tokens of one Anthropic token type at its tier and context window."""
    price = ANTHROPIC_PRICES[model][token_type]
    if context_window != ANTHROPIC_CONTEXT_WINDOWS[0]:
        price *= ANTHROPIC_LONG_CONTEXT[token_type]
    if service_tier == "batch":
        price *= ANTHROPIC_BATCH
    return price


def list_price_per_1000(record: OpenAICost | AnthropicCost) -> Decimal | None:
    """The list price of a cost line per 1000 tokens (per 1000 searches for Anthropic's web
    search), in USD: what its FOCUS row's ListUnitPrice is. None for a line that keeps an amount
    of its own (OpenAI's web search tool calls, fine-tuning, file search storage; Anthropic's code
    execution)."""
    if isinstance(record, OpenAICost):
        price = openai_price(record.line_item)
        return None if price is None else price.scaleb(-3)
    if record.cost_type == "web_search":
        return ANTHROPIC_WEB_SEARCH_PER_1000
    if record.token_type is None or record.model is None:
        return None
    assert record.service_tier is not None and record.context_window is not None
    return anthropic_price(record.model, record.token_type, record.service_tier, record.context_window).scaleb(-3)


# --- Amounts ------------------------------------------------------------------------------------

# Rounds an OpenAI float's digits to the org's decimals (half-even, as a float's digits would be).
ROUNDING = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_PER_TOKEN: dict[Decimal, float] = {}


def _normalized(value: Decimal) -> Decimal:
    value = value.normalize(ROUNDING)
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def openai_token_amount(tokens: int, price_per_million: Decimal, max_decimals: int = 18) -> Decimal:
    """What OpenAI writes for ``tokens`` at ``price_per_million``: the binary float product of the
    count and the price per token, as a float prints (``repr``: up to 17 significant digits, e.g.
    3.0864175000000003 or 4.5e-07), rounded half-even to ``max_decimals`` when it has more."""
    per_token = _PER_TOKEN.get(price_per_million)
    if per_token is None:
        per_token = _PER_TOKEN.setdefault(price_per_million, float(price_per_million / MILLION))
    value = Decimal(repr(tokens * per_token))
    if -value.as_tuple().exponent > max_decimals:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-max_decimals), context=ROUNDING)
    return _normalized(value)


def anthropic_token_cents(count: int, price_per_million: Decimal) -> Decimal:
    """What Anthropic writes for ``count`` at ``price_per_million`` (USD): exact cents, fractions of
    a cent included."""
    return _normalized(EXACT.multiply(Decimal(count), price_per_million.scaleb(-4)))


NINE_DECIMALS, MANY_DIGITS, SEVENTEEN_DIGITS, TINY, CENTS, WHOLE = range(6)


def _last_digit_not_zero(value: int, n: int) -> int:
    # A trailing zero would shorten the number once normalised ("…780" is "…78").
    return value + 1 + n % 9 if value % 10 == 0 else value


def _openai_amount(max_decimals: int, *parts: object) -> Decimal:
    """An amount of its own, for a line the usage report does not count."""
    h = digest("amount", *parts)
    n = h // 8
    style = (NINE_DECIMALS, NINE_DECIMALS, MANY_DIGITS, MANY_DIGITS, TINY, CENTS, CENTS, WHOLE)[h % 8]
    decimals = min(9, max_decimals)
    if style == NINE_DECIMALS:
        return Decimal(_last_digit_not_zero(n % (50 * 10**9), n)).scaleb(-decimals)
    if style == MANY_DIGITS:
        if max_decimals > 9:  # what float arithmetic leaves behind: 0.030862499999999998
            return Decimal(10**16 + n % (9 * 10**16)).scaleb(-min(17 + n % 2, max_decimals))
        return Decimal(n % 10**12 + 1).scaleb(-decimals)
    if style == TINY:  # the vendor writes it in exponent form: 4.5e-07; two of them stay < 1e-6
        return Decimal((45, 12, 7, 5, 25)[n % 5]).scaleb(-min(8 + (n // 5) % 2, max_decimals))
    if style == CENTS:
        return Decimal(n % 10000 + 1).scaleb(-2)
    return Decimal(n % 100 + 1)


def _anthropic_cents(*parts: object) -> Decimal:
    """Cents of its own, for a line the usage report does not count (code execution)."""
    h = digest("cents", *parts)
    style, n = h % 4, h // 4
    if style == 0:  # "1234.5678": fractional cents
        return Decimal(_last_digit_not_zero(n % 10**8, n)).scaleb(-4)
    if style == 1:
        return Decimal(n % 10**6 + 1).scaleb(-2)
    if style == 2:  # nine decimals once in dollars
        return Decimal(_last_digit_not_zero(n % 10**10, n)).scaleb(-7)
    return Decimal(n % 10**4 + 1).scaleb(-5)  # a fraction of a cent


# --- Costs: the usage priced --------------------------------------------------------------------


def openai_line_tokens(usage: OpenAIUsage) -> dict[str, int]:
    """A usage record's tokens per line item kind (``input`` counts what was not cached)."""
    return {
        "input": usage.input_tokens - usage.input_cached_tokens,
        "cached input": usage.input_cached_tokens,
        "output": usage.output_tokens,
        "audio input": usage.input_audio_tokens,
        "audio output": usage.output_audio_tokens,
    }


def openai_costs(org: FakeOrg, day: date, revision: int = 0) -> list[OpenAICost]:
    """The day's cost lines: every token line is the tokens its project, API key and model used
    that day (over batch and service tiers) times the line item's price; the other lines keep
    amounts of their own."""
    _check(org, "openai")
    tokens: dict[tuple[str, str, str], int] = {}
    for usage in openai_usage(org, day, revision):
        for kind, count in openai_line_tokens(usage).items():
            if count:
                line = (usage.project_id, f"{usage.model}, {kind}", usage.api_key_id)
                tokens[line] = tokens.get(line, 0) + count
    records: list[OpenAICost] = []
    keys_by_project = {p: [k.id for k in org.api_keys if k.owner_id == p] for p in org.projects}
    for project in org.projects:
        for line_item, keyed in OPENAI_LINE_ITEMS:
            price = openai_price(line_item)
            if price is not None:
                for key_id in keys_by_project[project]:
                    count = tokens.pop((project, line_item, key_id), 0)
                    if count:
                        amount = openai_token_amount(count, price, org.max_decimals)
                        records.append(OpenAICost(day, project, line_item, key_id, amount))
                continue
            if not _present(65, org.seed, day, revision, project, line_item):
                continue
            for other_key in keys_by_project[project] if keyed else [None]:
                if keyed and not _present(70, org.seed, day, revision, project, line_item, other_key):
                    continue
                amount = _openai_amount(org.max_decimals, org.seed, day, revision, project, line_item, other_key)
                records.append(OpenAICost(day, project, line_item, other_key, amount))
    if tokens:  # a count without a price: the price table misses a line item
        raise AssertionError(f"usage without a priced line item: {sorted(tokens)[:3]}")
    return records


def _description(name: str, label: str, tier: str, window: str) -> str:
    description = f"{name} Usage - {label}"
    description += " (Batch)" if tier == "batch" else ""
    return description + (", Long Context" if window != ANTHROPIC_CONTEXT_WINDOWS[0] else "")


def anthropic_costs(org: FakeOrg, day: date, revision: int = 0) -> list[AnthropicCost]:
    """The day's cost lines: every token line is the tokens of one type its workspace used that day
    with one model, tier and context window (over API keys) times that price; a workspace's web
    search line is its searches at USD 10 per 1,000; code execution keeps amounts of its own."""
    _check(org, "anthropic")
    counts: dict[tuple[str | None, str, str, str, str], int] = {}
    searches: dict[str | None, int] = {}
    for usage in anthropic_usage(org, day, revision):
        for token_type, _ in ANTHROPIC_TOKEN_TYPES:
            grain = (usage.workspace_id, usage.model, usage.service_tier, usage.context_window, token_type)
            counts[grain] = counts.get(grain, 0) + getattr(usage, token_type.replace(".", "_"))
        searches[usage.workspace_id] = searches.get(usage.workspace_id, 0) + usage.web_search_requests
    records: list[AnthropicCost] = []
    for workspace in org.workspaces:
        for model, name in ANTHROPIC_MODELS:
            for tier in ANTHROPIC_TIERS:
                for window in _windows(model):
                    for token_type, label in ANTHROPIC_TOKEN_TYPES:
                        count = counts.get((workspace, model, tier, window, token_type), 0)
                        if not count:
                            continue
                        cents = anthropic_token_cents(count, anthropic_price(model, token_type, tier, window))
                        description = _description(name, label, tier, window)
                        records.append(
                            AnthropicCost(day, workspace, description, "tokens", model, tier, window, token_type, cents)
                        )
        if searches.get(workspace):
            cents = anthropic_token_cents(searches[workspace], ANTHROPIC_WEB_SEARCH_PER_1000.scaleb(3))
            records.append(
                AnthropicCost(day, workspace, "Web Search Usage", "web_search", None, None, None, None, cents)
            )
        if _present(45, org.seed, day, revision, workspace, "Code Execution Usage"):
            cents = _anthropic_cents(org.seed, day, revision, workspace, "Code Execution Usage")
            records.append(
                AnthropicCost(day, workspace, "Code Execution Usage", "code_execution", None, None, None, None, cents)
            )
    return records


def _windows(model: str) -> tuple[str, ...]:
    # Only the Sonnet 4 models take the long (1M) context window.
    return ANTHROPIC_CONTEXT_WINDOWS if model.startswith("claude-sonnet-4") else ANTHROPIC_CONTEXT_WINDOWS[:1]


def _tokens(low: int, high: int, *parts: object) -> int:
    return low + digest("tokens", *parts) % (high - low + 1)


# --- Usage --------------------------------------------------------------------------------------


def openai_usage(org: FakeOrg, day: date, revision: int = 0, lagging: bool = False) -> list[OpenAIUsage]:
    """The day's usage records; ``lagging``: as a report that lags the costs serves it, without
    the records of some (project, API key, model) (``late_grains``)."""
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
                        input_cached_tokens=0 if audio else _tokens(0, input_tokens // 2, "cached", *parts),
                        input_audio_tokens=_tokens(1, 200_000, "audio-in", *parts) if audio else 0,
                        output_audio_tokens=_tokens(1, 100_000, "audio-out", *parts) if audio else 0,
                        num_model_requests=_tokens(1, 20_000, "requests", *parts),
                    )
                )
    records = _with_every_form(org, day, revision, records)
    if lagging:
        late = late_grains(org, day, revision)
        records = [r for r in records if (r.project_id, r.api_key_id, r.model) not in late]
    return records


def _count_for(price: Decimal, start: int, step: int, max_decimals: int, wanted: Callable[[Decimal], bool]) -> int:
    """The first count from ``start`` (by ``step``) whose amount at ``price`` is ``wanted``."""
    count = start
    for _ in range(100_000):
        if wanted(openai_token_amount(count, price, max_decimals)):
            return count
        count += step
    raise AssertionError("no token count gives the wanted amount")  # pragma: no cover


def _digits(amount: Decimal) -> int:
    return len(amount.as_tuple().digits)


def _with_every_form(org: FakeOrg, day: date, revision: int, records: list[OpenAIUsage]) -> list[OpenAIUsage]:
    """The day's usage with three token counts chosen so that the day's cost lines show every form
    of a float amount, also once summed over a project's API keys (each is the only key of its
    project with that model): a tiny amount (gpt-4o-mini input: 4.5e-07), one with exactly 9
    decimals (gpt-4o-mini cached input: 1.500000075) and one of 17 significant digits (gpt-4o
    output: 3.0864175000000003; with ``max_decimals`` 9, 12345678.123456789)."""
    parts = (org.seed, day, revision)
    mini, four_o = OPENAI_MODELS[1], OPENAI_MODELS[0]
    first = org.projects[0]
    tiny_key, nine_key = (k for k in org.api_keys if k.owner_id == first)
    seventeen_project = org.projects[1 % len(org.projects)]
    seventeen_key = [k for k in org.api_keys if k.owner_id == seventeen_project][digest("form", *parts) % 2]
    kept = [
        r
        for r in records
        if not (r.project_id == first and r.model == mini)
        and not (r.project_id == seventeen_project and r.model == four_o)
    ]
    d = org.max_decimals
    # gpt-4o-mini cached input costs 0.075 per 1M: an odd count gives 9 decimals, and from 13.4M
    # tokens on an amount of at least 1
    nine = _count_for(
        OPENAI_PRICES[mini]["cached input"],
        14_000_001 + 2 * (digest("nine", *parts) % 20_000_000),
        2,
        d,
        lambda a: -a.as_tuple().exponent == 9 and 1 <= a < 100,  # type: ignore[operator]
    )
    # 17 significant digits within the org's decimals: an amount from 10^(16 - d) (1 when d >= 16),
    # low in its decade, where a float's repr needs all 17 digits more often
    scale = 10 ** (5 + max(0, 16 - d))
    seventeen = _count_for(
        OPENAI_PRICES[four_o]["output"],
        scale + digest("seventeen", *parts) % (2 * scale),
        1,
        d,
        lambda a: _digits(a) == 17,
    )
    in_17 = _tokens(1_000, 5_000_000, "in-17", *parts)
    forced = [
        OpenAIUsage(
            day,
            first,
            tiny_key.user_id,
            tiny_key.id,
            mini,
            False,
            "default",
            1 + digest("tiny", *parts) % 6,
            1,
            0,
            0,
            0,
            1,
        ),
        OpenAIUsage(
            day,
            first,
            nine_key.user_id,
            nine_key.id,
            mini,
            False,
            "default",
            nine,
            _tokens(100, 1_000_000, "out-9", *parts),
            nine,
            0,
            0,
            _tokens(1, 20_000, "requests-9", *parts),
        ),
        OpenAIUsage(
            day,
            seventeen_project,
            seventeen_key.user_id,
            seventeen_key.id,
            four_o,
            False,
            "default",
            in_17,
            seventeen,
            _tokens(0, in_17 // 2, "cached-17", *parts),
            0,
            0,
            _tokens(1, 20_000, "requests-17", *parts),
        ),
    ]
    order = {key.id: index for index, key in enumerate(org.api_keys)}
    return sorted(
        [*kept, *forced],
        key=lambda r: (
            order[r.api_key_id],
            OPENAI_MODELS.index(r.model),
            OPENAI_USAGE_TIERS.index((r.batch, r.service_tier)),
        ),
    )


def anthropic_usage(org: FakeOrg, day: date, revision: int = 0, lagging: bool = False) -> list[AnthropicUsage]:
    """The day's usage records; ``lagging``: as a report that lags the costs serves it, without
    the records of some (workspace, model, service tier, context window) (``late_grains``)."""
    _check(org, "anthropic")
    callers: list[tuple[str | None, str | None]] = [(k.id, k.owner_id) for k in org.api_keys]
    callers.append((None, None))  # the Console's own usage: no key, default workspace
    # Every day, the default workspace's first key runs a Sonnet batch with 5-minute cache writes
    # (USD 1.875 per 1M: 7 decimals of a cent), an odd count of them in the workspace, so that
    # every day has an amount of 9 decimals in dollars.
    nine = (callers[0][0], ANTHROPIC_MODELS[0][0], "batch", ANTHROPIC_CONTEXT_WINDOWS[0])
    records: list[AnthropicUsage] = []
    for key_id, workspace in callers:
        for model, _ in ANTHROPIC_MODELS:
            for tier in ANTHROPIC_TIERS:
                for window in _windows(model):
                    parts = (org.seed, day, revision, key_id, workspace, model, tier, window)
                    if not _present(35, *parts) and (key_id, model, tier, window) != nine:
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
    grain = (callers[0][1], *nine[1:])
    same = [r for r in records if (r.workspace_id, r.model, r.service_tier, r.context_window) == grain]
    if sum(r.cache_creation_ephemeral_5m_input_tokens for r in same) % 2 == 0:
        at = records.index(next(r for r in same if r.api_key_id == nine[0]))
        forced = records[at]
        records[at] = replace(
            forced, cache_creation_ephemeral_5m_input_tokens=forced.cache_creation_ephemeral_5m_input_tokens + 1
        )
    if lagging:
        late = late_grains(org, day, revision)
        records = [r for r in records if (r.workspace_id, r.model, r.service_tier, r.context_window) not in late]
    return records


def late_grains(org: FakeOrg, day: date, revision: int = 0) -> set[tuple[Any, ...]]:
    """What a lagging usage report of the day misses: every record of about a third of the cost
    lines' grains (OpenAI: project, API key, model; Anthropic: workspace, model, service tier,
    context window), at least one, never all of them when there are two or more."""
    grains: set[tuple[Any, ...]]
    if org.vendor == "openai":
        grains = {(r.project_id, r.api_key_id, r.model) for r in openai_usage(org, day, revision)}
    else:
        grains = {
            (r.workspace_id, r.model, r.service_tier, r.context_window) for r in anthropic_usage(org, day, revision)
        }
    ordered = sorted(grains, key=str)
    late = {grain for grain in ordered if digest("late", org.seed, day, revision, grain) % 3 == 0}
    if not late and ordered:
        late = {ordered[digest("late-one", org.seed, day, revision) % len(ordered)]}
    if len(late) == len(ordered) > 1:
        late.discard(ordered[0])
    return late


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


def expected_usage(
    org: FakeOrg | str, day: date, revision: int = 0, lagging: bool = False
) -> list[OpenAIUsage] | list[AnthropicUsage]:
    """The day's usage records at the vendor's finest grain (``lagging``: as a lagging report
    serves them, without ``late_grains``)."""
    found = resolve_org(org)
    if found.vendor == "openai":
        return openai_usage(found, day, revision, lagging)
    return anthropic_usage(found, day, revision, lagging)


def expected_cost_total(org: FakeOrg | str, day: date, revision: int = 0) -> Decimal:
    """The day's total cost in currency units (USD), exact."""
    return sum_exact(record.amount for record in expected_costs(org, day, revision))


def expected_token_totals(org: FakeOrg | str, day: date, revision: int = 0, lagging: bool = False) -> dict[str, int]:
    """The day's token counts summed per field (the vendor's field names; Anthropic's nested
    fields flattened as ``cache_creation_ephemeral_1h_input_tokens``, ``web_search_requests``)."""
    found = resolve_org(org)
    records: Sequence[Any] = expected_usage(found, day, revision, lagging)
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
