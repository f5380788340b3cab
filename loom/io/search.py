"""Search hits with what a reader needs to pick one: depth, tags, note, and the
text around the match on one line, with where the match is in it."""

from __future__ import annotations

import sqlite3
from typing import Any

from . import TreeFormatError
from .sessionlike import SessionLike


class SearchError(TreeFormatError):
    """The query cannot be run; the message says why."""


CONTEXT = 40  # characters shown on each side of a match


def search(session: SessionLike, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Nodes whose text holds `query` (any characters, any letter case), in id order. Each hit has
    `context`, one line of the text around the first match (newlines and tabs shown as spaces, one
    for one; everything else as written), and `match`, the [start, end) of the match in it."""
    try:
        rows = session.search(query, limit=limit)
    except sqlite3.OperationalError as exc:
        raise SearchError(f"cannot search for {query!r} ({exc})") from None
    hits = []
    for r in rows:
        context, match = _context(r["text"], r["start"], r["end"])
        hits.append(
            {
                "id": r["id"],
                "depth": len(session.ancestry(r["id"])) - 1,
                "tags": session.tags(r["id"]),
                "note": session.note(r["id"]),
                "context": context,
                "match": match,
            }
        )
    return hits


def _context(text: str, start: int, end: int) -> tuple[str, list[int]]:
    lo, hi = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    head = "…" if lo else ""
    piece = head + text[lo:hi] + ("…" if hi < len(text) else "")
    piece = piece.translate(_ONE_LINE)
    return piece, [start - lo + len(head), end - lo + len(head)]


_ONE_LINE = {ord(c): " " for c in "\n\r\t\v\f\u2028\u2029\x85"}  # a listing is one line; lengths stay
