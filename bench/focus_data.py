"""FOCUS 1.2 rows written straight into an org's FOCUS tables, for the cost API's tests and benchmark.

The pipelines produce these rows in production (``focus_<provider>`` tables, day-partitioned on
``x_ChargeDate``, under the org's ``focus_costs`` view); this writes the columns the cost API reads
into tables of its own, ``focus_fixture_<provider>``, and has the warehouse keep the view over every
``focus_`` table (the pipelines' and these), so the read path can be measured and tested at any size
without running a year of pipelines, and with names no pipeline would produce.
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


def _pipeline_focus_columns() -> tuple[Column, ...]:
    """The columns of the billing pipeline's FOCUS table (its ``focus_gcp`` load step's schema), all
    nullable here: fixture tables with the same columns keep the org's view as wide as the
    pipelines make it, so every reader of the view (the cost API, the FOCUS export) sees a whole one."""
    from shared.domain.runs import PipelineRef
    from shared.pipelines import config
    from shared.settings import PROJECT_ROOT

    pipeline = config.load(PROJECT_ROOT / "configs", PipelineRef("gcp", "cost", "billing"))
    (step,) = [step for step in pipeline.steps if step.config.get("target_table") == "focus_gcp"]
    return tuple(Column(column["name"], column["type"]) for column in step.config["schema"])


FOCUS_COLUMNS = _pipeline_focus_columns()
COLUMN_NAMES = tuple(column.name for column in FOCUS_COLUMNS)
LABELS = JobLabels("fixture", "fixture", "focus_rows")
VIEW = "focus_costs"
TABLE_PREFIX = "focus_"


def _slug(provider: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", provider.lower()).strip("_") or "none"


def focus_table(dataset: str, provider: str) -> TableSpec:
    return TableSpec(dataset, f"{TABLE_PREFIX}fixture_{_slug(provider)}", FOCUS_COLUMNS, partition_field="x_ChargeDate")


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

    def fields(self) -> dict[str, Any]:
        """The row's FOCUS columns; the ones not named here are null."""
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        month = datetime(self.day.year, self.day.month, 1, tzinfo=UTC)
        next_month = datetime(self.day.year + self.day.month // 12, self.day.month % 12 + 1, 1, tzinfo=UTC)
        return {
            "BilledCost": self.billed,
            "EffectiveCost": self.billed if self.effective is None else self.effective,
            "ListCost": self.billed if self.list_cost is None else self.list_cost,
            "ContractedCost": self.billed,
            "BillingAccountId": "fixture-billing-account",
            "BillingCurrency": self.currency,
            "BillingPeriodStart": month,
            "BillingPeriodEnd": next_month,
            "ChargePeriodStart": start,
            "ChargePeriodEnd": start + timedelta(days=1),
            "ChargeCategory": self.category,
            "InvoiceIssuerName": self.provider,
            "ProviderName": self.provider,
            "PublisherName": self.provider,
            "ServiceCategory": "Compute",
            "ServiceName": self.service,
            "SubAccountId": self.sub_account,
            "SubAccountName": self.sub_account_name,
            "RegionId": self.region,
            "x_ChargeDate": self.day,
            "x_Provider": _slug(self.provider),
            "x_RunId": "fixture",
        }

    def values(self) -> tuple[Any, ...]:
        fields = self.fields()
        return tuple(fields.get(name) for name in COLUMN_NAMES)


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
    warehouse.ensure_union_view(dataset, VIEW, TABLE_PREFIX)
    return sum(len(values) for _, days in by_table.values() for values in days.values())


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
