"""Results as HTML tables, for a notebook's rich display (`_repr_html_`).
Every cell is text made visible (loom.textsafe) and HTML-escaped: model text
is data, never markup."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..textsafe import visible

MAX_ROWS = 30


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(visible(str(value), expand_tabs=False))


def table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, caption: str = "", limit: int = MAX_ROWS
) -> str:
    """An HTML table of `rows` (dicts), the first `limit` of them, with a note of how many more."""
    cols = list(columns or (rows[0].keys() if rows else []))
    out = ["<table>"]
    if caption:
        out.append(f"<caption style='text-align:left'>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr></thead><tbody>")
    for r in rows[:limit]:
        out.append("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f"<p>… {len(rows) - limit} more rows (<code>.to_pandas()</code> has them all)</p>")
    return "".join(out)


def interval(rate: float | None, lo: float | None, hi: float | None) -> str:
    """'41.7% (24.5–61.2%)': a rate with its 95% interval."""
    if rate is None:
        return ""
    return f"{rate:.1%}" + ("" if lo is None or hi is None else f" ({lo:.1%}–{hi:.1%})")
