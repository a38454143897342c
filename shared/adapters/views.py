"""SQL both warehouses share for the views they keep."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def union_select(
    columns_by_table: Mapping[str, Sequence[str]], table_name: Callable[[str], str], quote: Callable[[str], str]
) -> str:
    """UNION ALL of the tables on the columns they share, in the first table's order: one provider's
    own extra columns (``x_...``) stay in its table and out of the union."""
    tables = sorted(columns_by_table)
    shared = [name for name in columns_by_table[tables[0]] if all(name in columns_by_table[t] for t in tables)]
    names = ", ".join(quote(name) for name in shared)
    return " UNION ALL ".join(f"SELECT {names} FROM {table_name(table)}" for table in tables)
