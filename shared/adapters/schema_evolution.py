"""What a load does to a table an earlier version of its pipeline made: one rule, both warehouses.

A pipeline's declared schema can grow between versions (a FOCUS column added, a unit price given
more decimal places). Loading into the older table would fail on a column it lacks, with a message
that names neither the table nor a remedy. So before the first load a process makes into a table,
the table is compared with the declaration: what can change without losing a value is changed
(a nullable column added, NUMERIC widened to BIGNUMERIC); anything else (a required column missing,
another type) is refused, naming each difference and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import TerminalError
from shared.ports import Column, TableSpec

WIDENINGS = frozenset({("NUMERIC", "BIGNUMERIC")})
"""(found, declared) type pairs a warehouse converts value by value, every value kept: BIGNUMERIC
holds every NUMERIC (DuckDB: DECIMAL(38, 9) to DECIMAL(38, 18), which refuses the whole change if
a value has more than 20 integer digits, rather than lose it)."""

SYNONYMS = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "BIGDECIMAL": "BIGNUMERIC"}
"""The legacy names BigQuery's API reports for the standard SQL types a pipeline declares."""


@dataclass(frozen=True)
class SchemaChange:
    added: tuple[Column, ...] = ()
    """Declared nullable columns the table lacks: added, empty on the rows already there."""
    widened: tuple[Column, ...] = ()
    """Declared columns the table holds with a narrower type (see ``WIDENINGS``)."""

    def __bool__(self) -> bool:
        return bool(self.added or self.widened)


def plan(table: TableSpec, found: Mapping[str, str]) -> SchemaChange:
    """The change that brings a table whose columns are ``found`` (name -> BigQuery type name) up
    to ``table``'s declaration; TerminalError naming every difference no change can make.
    Columns the table has and the declaration lacks are left alone (a load leaves them null)."""
    added: list[Column] = []
    widened: list[Column] = []
    problems: list[str] = []
    for column in table.columns:
        kind = found.get(column.name)
        if kind is None:
            if column.mode == "REQUIRED":
                problems.append(f"{column.name} (required) is missing")
            else:
                added.append(column)
            continue
        kind = SYNONYMS.get(kind, kind)
        if kind == column.type:
            continue
        if (kind, column.type) in WIDENINGS:
            widened.append(column)
        else:
            problems.append(f"{column.name} is {kind}, declared {column.type}")
    if problems:
        raise TerminalError(
            f"Table {table.dataset}.{table.name} does not match its pipeline's schema: {'; '.join(problems)}."
            " Drop the table and re-run its days"
        )
    return SchemaChange(added=tuple(added), widened=tuple(widened))
