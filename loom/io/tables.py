"""Token tables written as they are read: the CSV of `text.write_csv`, byte for byte,
without holding every row in memory (write_csv lists them all to size its columns).
The widest token (how many alternative columns) comes from the token blobs' headers,
so the rows are decoded once, as they are written."""

from __future__ import annotations

from typing import IO

from . import Progress
from .sessionlike import SessionLike
from .text import csv_row, csv_writer, token_rows


def stream_csv(
    session: SessionLike, node_id: int | None, fh: IO[str], *, raw: bool = False, progress: Progress | None = None
) -> int:
    """The subtree's tokens as write_csv writes them; returns the number of rows."""
    k = session.max_alternatives(None if node_id is None else session.node(node_id).id)  # the column count, undecoded
    w = csv_writer(fh, k)
    n = 0
    for r in token_rows(session, node_id, progress=progress):
        w.writerow(csv_row(r, k, raw))
        n += 1
    return n
