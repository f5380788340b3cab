"""Text for papers and tables for notebooks.

`path_markdown` / `path_text`: the text from the root to a node, optionally
followed by a table of each model token's probability and its top
alternatives. `token_rows` walks a subtree's tokens; `write_jsonl` and
`write_csv` write them for pandas and friends.

Markdown, text and CSV are documents a person reads: unless `raw`, every
character a terminal or viewer could act on is shown as a visible stand-in
(loom.textsafe.visible) and CSV cells that a spreadsheet would evaluate are
neutralised. JSONL is data: exact, with such characters as JSON escapes."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from ..textsafe import csv_cell, inert_json, visible
from ..tree import Node, Token
from . import Progress
from .sessionlike import SessionLike

TABLE_ALTERNATIVES = 3  # alternatives shown per token in a probability table


def _visible(text: str) -> str:
    """A token's text with its whitespace made visible, for one table cell."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _md_code(text: str) -> str:
    """`text` as Markdown inline code that survives backticks and pipes inside a table."""
    shown = _visible(text).replace("|", "\\|")
    fence = "`" * (max(map(len, _runs(shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or not shown.strip() else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def _runs(s: str) -> list[str]:
    out, cur = [], ""
    for ch in s:
        if ch == "`":
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def _pct(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


def _table_rows(nodes: list[Node]) -> Iterator[tuple[int, int, Token]]:
    for node in nodes:
        for i, tok in enumerate(node.tokens or ()):
            yield node.id, i, tok


def heading(session: SessionLike, nodes: list[Node]) -> list[str]:
    """What a path's export says about it: session, node, depth, time, models."""
    end = nodes[-1]
    models = sorted({n.model for n in nodes if n.model})
    when = _dt.datetime.fromtimestamp(end.created, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"session {session.name}", f"node {end.id}", f"{len(nodes)} nodes deep", when]
    if models:
        parts.append("model " + ", ".join(models))
    return parts


def _document(text: str, raw: bool) -> str:
    return text if raw else visible(text, expand_tabs=False)


def path_markdown(session: SessionLike, node_id: int, *, probs: bool = False, raw: bool = False) -> str:
    """The path to `node_id` as Markdown: a heading, the text verbatim in a fenced block (model text
    is data, so no Markdown in it takes effect), then an optional probability table."""
    nodes = session.path_nodes(node_id)
    text = "".join(n.text for n in nodes)
    fence = "`" * max(3, max(map(len, _runs(text)), default=0) + 1)
    out = [
        f"# {session.name}",
        "",
        f"*{' · '.join(heading(session, nodes))}*",
        "",
        fence + "text",
        text.rstrip("\n"),
        fence,
    ]
    if probs:
        rows = list(_table_rows(nodes))
        out += ["", "## Token probabilities", ""]
        if not rows:
            out.append("No node on this path has token data.")
        else:
            alt_cols = " | ".join(f"alt {i + 1}" for i in range(TABLE_ALTERNATIVES))
            out += [f"| node | # | token | p | {alt_cols} |", "|---:|---:|---|---:|" + "---|" * TABLE_ALTERNATIVES]
            for nid, i, tok in rows:
                alts = [f"{_md_code(a.text)} {_pct(a.prob)}" for a in tok.alternatives[:TABLE_ALTERNATIVES]]
                alts += [""] * (TABLE_ALTERNATIVES - len(alts))
                out.append(f"| {nid} | {i} | {_md_code(tok.text)} | {_pct(tok.prob)} | " + " | ".join(alts) + " |")
    return _document("\n".join(out) + "\n", raw)


def path_text(session: SessionLike, node_id: int, *, probs: bool = False, raw: bool = False) -> str:
    """The path to `node_id` as plain text; with `probs`, an aligned table after it."""
    nodes = session.path_nodes(node_id)
    out = "".join(n.text for n in nodes)
    if not probs:
        return _document(out if out.endswith("\n") else out + "\n", raw)
    lines = [out.rstrip("\n"), "", "-- " + " · ".join(heading(session, nodes)) + " --"]
    rows = list(_table_rows(nodes))
    if not rows:
        lines.append("no node on this path has token data")
    else:
        lines.append(f"{'node':>6} {'#':>4}  {'token':<16} {'p':>7}  top alternatives")
        for nid, i, tok in rows:
            alts = "  ".join(f"{_visible(a.text)!s}={_pct(a.prob)}" for a in tok.alternatives[:TABLE_ALTERNATIVES])
            lines.append(f"{nid:>6} {i:>4}  {_visible(tok.text):<16} {_pct(tok.prob):>7}  {alts}")
    return _document("\n".join(lines) + "\n", raw)


# -- token tables for notebooks -----------------------------------------------------
def token_rows(
    session: SessionLike, node_id: int | None = None, progress: Progress | None = None
) -> Iterator[dict[str, Any]]:
    """One dict per token in the subtree under `node_id` (the whole session if None), nodes in id order."""
    ids = session.all_ids() if node_id is None else session.subtree_ids(session.node(node_id).id)
    for n, nid in enumerate(ids, 1):
        node = session.node(nid)
        pos = 0
        for i, tok in enumerate(node.tokens or ()):
            yield {
                "node": node.id,
                "parent": node.parent_id,
                "author": node.author,
                "model": node.model,
                "index": i,
                "offset": pos,
                "text": tok.text,
                "token_id": tok.token_id,
                "logprob": tok.logprob,
                "prob": tok.prob,
                "raw": tok.raw,
                "alternatives": [
                    {"text": a.text, "logprob": a.logprob, "token_id": a.token_id} for a in tok.alternatives
                ],
            }
            pos += len(tok.text)
        if progress and (n % 200 == 0 or n == len(ids)):
            progress(n, len(ids))


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


def write_jsonl(rows: Iterable[dict[str, Any]], fh: IO[str]) -> int:
    n = 0
    for row in rows:
        row = {**row, "alternatives": [{**a, "logprob": _finite(a["logprob"])} for a in row["alternatives"]]}
        fh.write(inert_json(json.dumps(row, ensure_ascii=False)) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict[str, Any]], fh: IO[str], *, raw: bool = False) -> int:
    """Flat columns: the token, then alt1_text, alt1_logprob, ... for as many alternatives as the widest token.
    Unless `raw`, text cells are made visible and formula-like cells neutralised (loom.textsafe.csv_cell).
    (io.tables.stream_csv writes the same without holding the rows.)"""
    rows = list(rows)
    k = max((len(r["alternatives"]) for r in rows), default=0)
    w = csv_writer(fh, k)
    for r in rows:
        w.writerow(csv_row(r, k, raw))
    return len(rows)


class CsvWriter(Protocol):
    """What csv.writer gives (its class is private to _csv)."""

    def writerow(self, row: Iterable[Any], /) -> Any: ...


CSV_BASE = ["node", "parent", "author", "model", "index", "offset", "text", "token_id", "logprob", "prob", "raw"]


def csv_writer(fh: IO[str], k: int) -> CsvWriter:
    """A CSV writer on `fh` that has written the header for `k` alternative columns."""
    w = csv.writer(fh, lineterminator="\r\n")  # RFC 4180; a CR inside a raw cell is then quoted too
    w.writerow(CSV_BASE + [c for i in range(1, k + 1) for c in (f"alt{i}_text", f"alt{i}_logprob", f"alt{i}_token_id")])
    return w


def csv_row(r: dict[str, Any], k: int, raw: bool) -> list[Any]:
    cell = _cell if raw else _safe_cell
    alts = [v for a in r["alternatives"] for v in (a["text"], _finite(a["logprob"]), a["token_id"])]
    return [cell(r[c]) for c in CSV_BASE] + [cell(v) for v in alts] + [""] * (3 * k - len(alts))


def _cell(v: Any) -> Any:
    return "" if v is None else v


def _safe_cell(v: Any) -> Any:
    return csv_cell(_cell(v))
