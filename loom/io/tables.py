"""Token tables written as they are read: the CSV of `text.write_csv`, byte for byte,
without holding every row in memory (write_csv lists them all to size its columns).
One pass over the subtree finds the widest token (how many alternative columns),
a second writes the rows."""

from __future__ import annotations

import csv
from typing import IO

from . import Progress
from .text import _cell, _finite, token_rows

BASE = ["node", "parent", "author", "model", "index", "offset", "text", "token_id", "logprob", "prob", "raw"]


def stream_csv(session, node_id: int | None, fh: IO[str], progress: Progress | None = None) -> int:
    """The subtree's tokens as write_csv writes them; returns the number of rows."""
    k = 0
    for r in token_rows(session, node_id):
        k = max(k, len(r["alternatives"]))
    alt_cols = [c for i in range(1, k + 1) for c in (f"alt{i}_text", f"alt{i}_logprob", f"alt{i}_token_id")]
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(BASE + alt_cols)
    n = 0
    for r in token_rows(session, node_id, progress=progress):
        alts = [v for a in r["alternatives"] for v in (a["text"], _finite(a["logprob"]), a["token_id"])]
        w.writerow([_cell(r[c]) for c in BASE] + [_cell(v) for v in alts] + [""] * (len(alt_cols) - len(alts)))
        n += 1
    return n
