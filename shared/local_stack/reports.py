"""Cost reports as text for the terminal (``cloudact costs``): a table, then one total per currency."""

from __future__ import annotations

from typing import Any

HEADINGS = {"sub_account_name": "sub account name", "charge_category": "charge category", "sub_account": "sub account"}


def _text(value: Any) -> str:
    # tenant-controlled names: control characters would rewrite the terminal, so they are shown escaped
    text = "" if value is None else str(value)
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def cost_table(report: dict[str, Any]) -> str:
    columns: list[str] = report["columns"]
    headings = [HEADINGS.get(name, name) for name in columns]
    cells = [[_text(row.get(name)) for name in columns] for row in report["rows"]]
    widths = [max([len(heading), *(len(row[i]) for row in cells)]) for i, heading in enumerate(headings)]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if name == "amount" else value.ljust(width)
            for name, value, width in zip(columns, values, widths, strict=True)
        ).rstrip()

    out = [line(headings), line(["-" * width for width in widths])]
    out += [line(row) for row in cells]
    if not cells:
        out.append(f"(no costs from {report['start']} to {report['end']})")
    out.append("")
    label = f"total {report['cost']} cost"
    for total in report["totals"]:
        out.append(f"{label} {report['start']}..{report['end']}: {total['amount']} {_text(total['currency'])}")
    for item in report["freshness"]:
        out.append(
            f"freshness: {item['provider']} data of {item.get('date') or '?'} loaded {item.get('completed_at') or '?'}"
            f" (source watermark {item.get('source_watermark') or 'unknown'})"
        )
    if not report["freshness"]:
        out.append("freshness: no completed run yet")
    return "\n".join(out)
