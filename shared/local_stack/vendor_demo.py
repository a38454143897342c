"""The demo's second half: the same org's OpenAI and Anthropic costs for the same day, from the local
fakes of their admin APIs, then one cost summary across providers, every loaded amount checked
against the fakes' own ground truth (computed without HTTP, from the generator, each vendor amount
rounded half-even to the 9 decimals of the NUMERIC column)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact
from typing import Any

from shared.adapters.local.warehouse import DuckDBWarehouse
from shared.local_stack.client import ApiClient

NANO = Decimal("1E-9")
EXACT = Context(prec=60, traps=[Inexact])
VENDOR_PIPELINES = (
    ("openai", "OpenAI", "openai_costs_daily", ("project_id", "line_item", "api_key_id")),
    ("anthropic", "Anthropic", "anthropic_costs_daily", ("workspace_id", "description")),
)


def _fake_keys() -> dict[str, str]:
    from shared.local_stack.fakes import DEFAULT_ANTHROPIC_ADMIN_KEY, DEFAULT_OPENAI_ADMIN_KEY

    return {"openai": DEFAULT_OPENAI_ADMIN_KEY, "anthropic": DEFAULT_ANTHROPIC_ADMIN_KEY}


def expected_amounts(provider: str, day: date, fields: tuple[str, ...]) -> dict[tuple[Any, ...], Decimal]:
    """What the fake vendor bills for ``day``, per grouping key, straight from its generator: each
    amount it serves rounded to a nano-unit (half-even), then summed exactly."""
    from shared.local_stack.fakes import expected_costs

    totals: dict[tuple[Any, ...], Decimal] = {}
    for record in expected_costs(_fake_keys()[provider], day):
        key = tuple(getattr(record, name) for name in fields)
        nanos = record.amount.quantize(NANO, rounding=ROUND_HALF_EVEN)
        totals[key] = EXACT.add(totals.get(key, Decimal(0)), nanos)
    return totals


def loaded_amounts(
    warehouse: DuckDBWarehouse, dataset: str, table: str, fields: tuple[str, ...], day: date
) -> dict[tuple[Any, ...], Decimal]:
    rows = warehouse.execute_native(
        f'SELECT {", ".join(fields)}, amount FROM "{warehouse.project}"."{dataset}".{table} WHERE usage_date = $1',
        [day],
    )
    loaded = {tuple(row[:-1]): row[-1] for row in rows}
    return loaded if len(loaded) == len(rows) else {}  # a duplicated key is a mismatch


def run_vendor_demo(
    client: ApiClient,
    org: str,
    dataset: str,
    warehouse: DuckDBWarehouse,
    day: date,
    gcp_net: list[tuple[str, Decimal, int]],
    say: Callable[[str], None],
    follow: Callable[[ApiClient, str, Callable[[str], None]], dict[str, Any]],
    step: int,
) -> bool:
    keys = _fake_keys()
    summary = [("Google Cloud (net of credits)", currency, net, rows) for currency, net, rows in gcp_net]
    ok = True
    for provider, label, table, fields in VENDOR_PIPELINES:
        say(f"{step}. Storing its {label} admin key (shape-checked, verified with the vendor, encrypted)")
        body = {"credential": keys[provider], "verify": True}
        stored = client.request("PUT", f"/api/v1/integrations/{org}/{provider}", body)
        say(f"   stored; fingerprint {stored['fingerprint']} (the key itself is never returned)")
        step += 1
        say(f"{step}. Triggering {provider}/cost/billing for {day.isoformat()} and following it")
        accepted = client.run_pipeline(org, f"{provider}/cost/billing", {"date": day.isoformat()})
        run = follow(client, accepted["pipeline_logging_id"], say)
        step += 1
        if run["status"] != "COMPLETE":
            say(f"   run ended {run['status']}: {run.get('error_message')}")
            ok = False
            continue
        loaded = loaded_amounts(warehouse, dataset, table, fields, day)
        expected = expected_amounts(provider, day, fields)
        matched = bool(expected) and loaded == expected
        totals = warehouse.execute_native(
            f'SELECT currency, SUM(amount), COUNT(*) FROM "{warehouse.project}"."{dataset}".{table} '
            "WHERE usage_date = $1 GROUP BY 1 ORDER BY 1",
            [day],
        )
        say(
            f"   {run['rows_processed']} rows into {org}.{table} (NUMERIC: each vendor amount rounded half-even"
            " to 9 decimals); every amount equals the vendor's"
            f" ground truth to the last decimal: {'yes' if matched else 'NO'}"
        )
        ok = ok and matched
        warnings = list(run.get("warnings") or [])
        for text in warnings:
            say(f"   warning: {text}")
        priced, unmatched = warehouse.execute_native(
            "SELECT COUNT(*) FILTER (WHERE PricingUnit LIKE '1000 %'), COUNT(x_UnmatchedUsage) "
            f'FROM "{warehouse.project}"."{dataset}".focus_{provider} WHERE x_ChargeDate = $1',
            [day],
        )[0]
        # The fakes bill what their usage report counts: every token line has its usage.
        say(
            f"   {priced} FOCUS rows priced per 1000 tokens or searches from the day's usage;"
            f" token lines without usage: {unmatched}; run warnings: {len(warnings) or 'none'}"
        )
        ok = ok and unmatched == 0 and not warnings
        summary += [(label, currency, total, rows) for currency, total, rows in totals]
    say(f"{step}. Cost summary for {day.isoformat()} across providers (exact NUMERIC amounts, per currency)")
    say(f"   {'provider':<30} {'cur':<4} {'total':>26} {'rows':>6}")
    by_currency: dict[str, Decimal] = {}
    for label, currency, total, rows in summary:
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + total
        say(f"   {label:<30} {currency:<4} {_plain(total):>26} {rows:>6}")
    for currency, total in sorted(by_currency.items()):
        say(f"   {'all providers':<30} {currency:<4} {_plain(total):>26}")
    return ok


def _plain(amount: Decimal) -> str:
    """Every digit that matters, no trailing zeros of the column's scale, no exponent."""
    text = format(amount.normalize(), "f")
    return text if "." in text else text + ".00"
