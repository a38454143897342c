"""FOCUS 1.2 rows written straight into an org's FOCUS tables, for the cost API's tests and benchmark.

The pipelines produce these rows in production (``focus_<provider>`` tables, day-partitioned on
``x_ChargeDate``, under the org's ``focus_costs`` view); this writes the columns the cost API reads
into tables of its own, ``focus_fixture_<provider>``, and keeps the view over every ``focus_`` table,
so the read path can be measured and tested at any size without running a year of pipelines.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.ports import Column, JobLabels, TableSpec, Warehouse

FOCUS_COLUMNS = (
    Column("BilledCost", "NUMERIC"),
    Column("EffectiveCost", "NUMERIC"),
    Column("ListCost", "NUMERIC"),
    Column("BillingCurrency", "STRING"),
    Column("ChargePeriodStart", "TIMESTAMP"),
    Column("ChargePeriodEnd", "TIMESTAMP"),
    Column("ProviderName", "STRING"),
    Column("ServiceName", "STRING"),
    Column("ServiceCategory", "STRING"),
    Column("SubAccountId", "STRING"),
    Column("SubAccountName", "STRING"),
    Column("RegionId", "STRING"),
    Column("ChargeCategory", "STRING"),
    Column("x_ChargeDate", "DATE"),
)
COLUMN_NAMES = tuple(column.name for column in FOCUS_COLUMNS)
LABELS = JobLabels("fixture", "fixture", "focus_rows")


VIEW = "focus_costs"
TABLE_PREFIX = "focus_"


def focus_table(dataset: str, provider: str) -> TableSpec:
    slug = re.sub(r"[^a-z0-9]+", "_", provider.lower()).strip("_") or "none"
    return TableSpec(dataset, f"{TABLE_PREFIX}fixture_{slug}", FOCUS_COLUMNS, partition_field="x_ChargeDate")


@dataclass(frozen=True)
class FocusRow:
    day: date
    provider: str
    service: str
    billed: Decimal
    currency: str = "USD"
    sub_account: str = "acct-1"
    sub_account_name: str = "Account one"
    region: str = "us-central1"
    category: str = "Usage"
    effective: Decimal | None = None
    list_cost: Decimal | None = None

    def values(self) -> tuple[Any, ...]:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return (
            self.billed,
            self.billed if self.effective is None else self.effective,
            self.billed if self.list_cost is None else self.list_cost,
            self.currency,
            start,
            start + timedelta(days=1),
            self.provider,
            self.service,
            "Compute",
            self.sub_account,
            self.sub_account_name,
            self.region,
            self.category,
            self.day,
        )


def write(warehouse: Warehouse, dataset: str, rows: Iterable[FocusRow]) -> int:
    """Replaces each provider's days present in ``rows`` with those rows (through the Warehouse port),
    then (re)creates the org's ``focus_costs`` view over its ``focus_`` tables."""
    by_table: dict[str, tuple[TableSpec, dict[date, list[tuple[Any, ...]]]]] = {}
    for row in rows:
        table = focus_table(dataset, row.provider)
        by_table.setdefault(table.name, (table, {}))[1].setdefault(row.day, []).append(row.values())
    for table, days in by_table.values():
        warehouse.ensure_table(table)
        for day, values in sorted(days.items()):
            warehouse.replace_partition(table, day, COLUMN_NAMES, values, labels=LABELS)
    ensure_view(warehouse, dataset)
    return sum(len(values) for _, days in by_table.values() for values in days.values())


def ensure_view(warehouse: Warehouse, dataset: str) -> None:
    keep_view = getattr(warehouse, "ensure_union_view", None)
    if keep_view is not None:  # the port's own, where the warehouse has it
        keep_view(dataset, VIEW, TABLE_PREFIX)
        return
    # the embedded warehouse before it kept FOCUS views itself: the same union, written here
    native = warehouse.execute_native  # type: ignore[attr-defined]
    project = warehouse.project  # type: ignore[attr-defined]
    tables = [
        name
        for (name,) in native(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = $1 AND schema_name = $2"
            " AND starts_with(table_name, $3) ORDER BY table_name",
            [project, dataset, TABLE_PREFIX],
        )
    ]
    names = ", ".join(f'"{name}"' for name in COLUMN_NAMES)
    union = " UNION ALL ".join(f'SELECT {names} FROM "{project}"."{dataset}"."{table}"' for table in tables)
    native(f'CREATE OR REPLACE VIEW "{project}"."{dataset}"."{VIEW}" AS {union}')


PROVIDERS = {
    "Google Cloud": ["Compute Engine", "Cloud Storage", "BigQuery", "Cloud Run", "Cloud SQL", "Networking"],
    "OpenAI": ["gpt-4o", "gpt-4o-mini", "o3", "embeddings", "whisper"],
    "Anthropic": ["claude-opus", "claude-sonnet", "claude-haiku"],
}


def synthetic_year(
    end: date,
    days: int = 365,
    *,
    providers: Sequence[str] = tuple(PROVIDERS),
    accounts: int = 5,
    regions: Sequence[str] = ("us-central1", "europe-west1", "asia-east1"),
    seed: int = 7,
) -> Iterable[FocusRow]:
    """One row per day, provider, service, account and region, with random amounts (9 decimals)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    for offset in range(days):
        day = end - timedelta(days=days - 1 - offset)
        for provider in providers:
            for service in PROVIDERS.get(provider, ["Service A", "Service B"]):
                for account in range(accounts):
                    for region in regions:
                        billed = Decimal(rng.randrange(0, 10_000_000_000)) / Decimal(10**9)
                        yield FocusRow(
                            day=day,
                            provider=provider,
                            service=service,
                            billed=billed,
                            sub_account=f"{provider.split()[0].lower()}-acct-{account}",
                            sub_account_name=f"{provider} account {account}",
                            region=region,
                            effective=(billed * Decimal("0.9")).quantize(Decimal("1e-9")),
                            list_cost=(billed * Decimal("1.2")).quantize(Decimal("1e-9")),
                        )
