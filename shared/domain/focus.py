"""FOCUS 1.2 (the FinOps Open Cost and Usage Specification): the rules our rows must keep.

The FinOps Foundation's validator checks a file against the specification, but its allowed-value
checks pass a file in which one value is allowed. These checks are stricter and ours: every row,
every enumerated column, every column the specification says must not be null, the pairs that are
null together, the periods, the unit format and unit prices. They run on rows from the warehouse
and on an exported file alike. No I/O here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Context, Decimal, localcontext
from typing import Any

SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    ),
    "Analytics": (
        "Analytics Platforms",
        "Business Intelligence",
        "Data Processing",
        "Search",
        "Streaming Analytics",
        "Other (Analytics)",
    ),
    "Business Applications": ("Productivity and Collaboration", "Other (Business Applications)"),
    "Compute": (
        "Containers",
        "End User Computing",
        "Quantum Compute",
        "Serverless Compute",
        "Virtual Machines",
        "Other (Compute)",
    ),
    "Databases": (
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
        "Other (Databases)",
    ),
    "Developer Tools": (
        "Developer Platforms",
        "Continuous Integration and Deployment",
        "Development Environments",
        "Source Code Management",
        "Quality Assurance",
        "Other (Developer Tools)",
    ),
    "Identity": ("Identity and Access Management", "Other (Identity)"),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms", "Other (Internet of Things)"),
    "Management and Governance": (
        "Architecture",
        "Compliance",
        "Cost Management",
        "Data Governance",
        "Disaster Recovery",
        "Endpoint Management",
        "Observability",
        "Support",
        "Other (Management and Governance)",
    ),
    "Media": ("Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"),
    "Migration": ("Data Migration", "Resource Migration", "Other (Migration)"),
    "Mobile": ("Other (Mobile)",),
    "Multicloud": ("Multicloud Integration", "Other (Multicloud)"),
    "Networking": (
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
        "Other (Networking)",
    ),
    "Security": (
        "Secret Management",
        "Security Posture Management",
        "Threat Detection and Response",
        "Other (Security)",
    ),
    "Storage": (
        "Backup Storage",
        "Block Storage",
        "File Storage",
        "Object Storage",
        "Storage Platforms",
        "Other (Storage)",
    ),
    "Web": ("Application Platforms", "Other (Web)"),
    "Other": ("Other (Other)",),
}
"""FOCUS 1.2's ServiceCategory values, each with its ServiceSubcategory values."""

ALLOWED: dict[str, frozenset[str]] = {
    "ChargeCategory": frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"}),
    "ChargeClass": frozenset({"Correction"}),
    "ChargeFrequency": frozenset({"One-Time", "Recurring", "Usage-Based"}),
    "PricingCategory": frozenset({"Standard", "Committed", "Dynamic", "Other"}),
    "ServiceCategory": frozenset(SUBCATEGORIES),
    "ServiceSubcategory": frozenset(value for values in SUBCATEGORIES.values() for value in values),
    "CommitmentDiscountStatus": frozenset({"Used", "Unused"}),
    "CommitmentDiscountCategory": frozenset({"Spend", "Usage"}),
}
"""Enumerated columns and their allowed values (null is governed by the nullability rules)."""

NOT_NULL = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "InvoiceIssuerName",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
"""Columns FOCUS 1.2 says MUST NOT be null (plus ChargeFrequency and ServiceSubcategory when present)."""

MANDATORY = (
    *NOT_NULL,
    "BillingAccountName",
    "ChargeClass",
    "ChargeDescription",
    "PricingQuantity",
    "PricingUnit",
)
"""Every column FOCUS 1.2 requires in a cost and usage dataset."""

MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
UNIT_PRICES = ("ListUnitPrice", "ContractedUnitPrice")
"""Decimals to 18 places (BigQuery BIGNUMERIC, DuckDB DECIMAL(38, 18)): a unit price times a large
quantity must give back the cost, which 9 places cannot promise."""
DECIMALS = (*MONEY, "PricingQuantity", "ConsumedQuantity", *UNIT_PRICES)
_TIME_PLURAL = "Years|Months|Days|Hours|Minutes|Seconds"
_TIME_SINGULAR = "Year|Month|Day|Hour|Minute|Second"
_UNIT = r"[A-Za-z][A-Za-z0-9]*(?: [A-Za-z][A-Za-z0-9]*)*"
UNIT_FORMAT = re.compile(
    "|".join(
        (
            _UNIT,
            rf"{_UNIT}-(?:{_TIME_PLURAL})",
            rf"{_UNIT}/(?:{_TIME_SINGULAR})",
            rf"[1-9][0-9]* {_UNIT}",
            rf"{_UNIT}/[1-9][0-9]* (?:{_TIME_PLURAL})",
        )
    )
)
"""FOCUS 1.2 UnitFormat: a unit (`Tokens`, `GiB`), a unit over time (`GiB-Months`, `Requests/Hour`,
`Requests/3 Months`), or a whole quantity of units (`1000 Tokens`; not `1M Tokens`)."""
PRICE_TOLERANCE = Decimal("1E-9")
"""ListUnitPrice x PricingQuantity must give back ListCost within this, relative to ListCost when it
is above 1 (the FinOps Foundation's validator's own tolerance for the same rule)."""
NULL_TOGETHER = (
    ("PricingQuantity", "PricingUnit"),
    ("ConsumedQuantity", "ConsumedUnit"),
    ("SubAccountId", "SubAccountName"),
    ("RegionId", "RegionName"),
)
"""Pairs that are null on the same rows: a quantity without its unit means nothing, and so on."""


def violations(rows: Iterable[Mapping[str, Any]], *, limit: int = 20) -> list[str]:
    """Every broken rule, each once with its count and a first example; empty when all hold."""
    found: dict[str, list[Any]] = {}

    def fail(rule: str, example: Any) -> None:
        entry = found.setdefault(rule, [0, example])
        entry[0] += 1

    columns: set[str] | None = None
    count = 0
    for row in rows:
        count += 1
        if columns is None:
            columns = set(row)
            for name in MANDATORY:
                if name not in columns:
                    fail(f"mandatory column {name} missing", None)
        for name in NOT_NULL:
            if name in row and row[name] is None:
                fail(f"{name} is null", dict(row))
        for name in ("ChargeFrequency", "ServiceSubcategory"):
            if name in row and row[name] is None:
                fail(f"{name} is null", dict(row))
        for name, allowed in ALLOWED.items():
            value = row.get(name)
            if value is not None and value not in allowed:
                fail(f"{name} {value!r} is not an allowed value", value)
        category, subcategory = row.get("ServiceCategory"), row.get("ServiceSubcategory")
        if subcategory is not None and subcategory not in SUBCATEGORIES.get(category or "", ()):
            fail(f"ServiceSubcategory {subcategory!r} is not under ServiceCategory {category!r}", row)
        for name in DECIMALS:
            value = row.get(name)
            if value is not None and not isinstance(value, Decimal):
                fail(f"{name} is not a decimal ({type(value).__name__})", value)
        for name in ("PricingUnit", "ConsumedUnit"):
            unit = row.get(name)
            if unit is not None and not (isinstance(unit, str) and UNIT_FORMAT.fullmatch(unit)):
                fail(f"{name} {unit!r} is not in FOCUS unit format", unit)
        _check_unit_price(row, fail)
        for first, second in NULL_TOGETHER:
            if first in row and (row[first] is None) != (row.get(second) is None):
                fail(f"{first} and {second} are not null together", row)
        _check_periods(row, fail)
        _check_by_category(row, fail)
        currency = row.get("BillingCurrency")
        if currency is not None and not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
            fail(f"BillingCurrency {currency!r} is not an ISO 4217 code", currency)
    if count == 0:
        return ["no rows"]
    return [f"{rule}: {n} row(s), e.g. {example!r}"[:500] for rule, (n, example) in list(found.items())[:limit]]


def _check_periods(row: Mapping[str, Any], fail: Any) -> None:
    for start, end in (("ChargePeriodStart", "ChargePeriodEnd"), ("BillingPeriodStart", "BillingPeriodEnd")):
        first, last = row.get(start), row.get(end)
        if first is None or last is None:
            continue
        if not isinstance(first, datetime) or not isinstance(last, datetime):
            fail(f"{start}/{end} are not timestamps", (first, last))
        elif first.utcoffset() is None or first.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
            fail(f"{start} is not in UTC", first)
        elif not last > first:
            fail(f"{end} is not after {start}", (first, last))


def _check_unit_price(row: Mapping[str, Any], fail: Any) -> None:
    price, quantity, cost = row.get("ListUnitPrice"), row.get("PricingQuantity"), row.get("ListCost")
    if row.get("ChargeClass") == "Correction":
        return
    if not (isinstance(price, Decimal) and isinstance(quantity, Decimal) and isinstance(cost, Decimal)):
        return
    with localcontext(Context(prec=80)):
        if abs(price * quantity - cost) > PRICE_TOLERANCE * max(abs(cost), Decimal(1)):
            fail("ListUnitPrice x PricingQuantity differs from ListCost", (price, quantity, cost))


def _check_by_category(row: Mapping[str, Any], fail: Any) -> None:
    category, correction = row.get("ChargeCategory"), row.get("ChargeClass") == "Correction"
    if category == "Tax":
        for name in ("PricingQuantity", "PricingCategory", "SkuId", "ListUnitPrice"):
            if row.get(name) is not None:
                fail(f"{name} is not null on a Tax row", row)
    if category in ("Usage", "Purchase") and not correction:
        for name in ("PricingQuantity", "PricingCategory", "SkuId"):
            if name in row and row[name] is None:
                fail(f"{name} is null on a {category} row", row)
    if category == "Usage" and not correction and "ConsumedQuantity" in row and row["ConsumedQuantity"] is None:
        fail("ConsumedQuantity is null on a Usage row", row)
    if category != "Usage" and row.get("ConsumedQuantity") is not None:
        fail(f"ConsumedQuantity is set on a {category} row", row)
    if category == "Credit":
        for name in ("EffectiveCost", "ListCost", "ContractedCost"):
            if name in row and row[name] != row.get("BilledCost"):
                fail(f"{name} differs from BilledCost on a Credit row", row)


def billed_totals(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], Decimal]:
    """Σ BilledCost per (provider, billing account, billing period start, currency): what the
    provider invoices, to compare with the source."""
    totals: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        key = (row["ProviderName"], row["BillingAccountId"], row["BillingPeriodStart"], row["BillingCurrency"])
        totals[key] += row["BilledCost"]
    return dict(totals)
