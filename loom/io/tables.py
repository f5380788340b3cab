"""Token tables written as they are read: the CSV of `text.write_csv`, byte for byte,
without holding every row in memory (write_csv lists them all to size its columns).
One pass over the subtree finds the widest token (how many alternative columns),
a second writes the rows."""

from __future__ import annotations

from typing import IO

from . import Progress
from .text import csv_row, csv_writer, token_rows


def stream_csv(session, node_id: int | None, fh: IO[str], *, raw: bool = False, progress: Progress | None = None) -> int:
    """The subtree's tokens as write_csv writes them; returns the number of rows."""
    k = 0
    for r in token_rows(session, node_id):
        k = max(k, len(r["alternatives"]))
    w = csv_writer(fh, k)
    n = 0
    for r in token_rows(session, node_id, progress=progress):
        w.writerow(csv_row(r, k, raw))
        n += 1
    return n
