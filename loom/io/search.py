"""Search hits with what a reader needs to pick one: depth, tags, note, and the
text around the match on one line."""

from __future__ import annotations

import sqlite3
from typing import Any

from . import TreeFormatError


class SearchError(TreeFormatError):
    """The query cannot be run; the message says why."""


def search(session, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Nodes whose text contains `query` (FTS5 phrase), best first, each with one-line context."""
    try:
        rows = session.search(query, limit=limit)
    except sqlite3.OperationalError as exc:
        raise SearchError(f"cannot search for {query!r} ({exc})") from None
    hits = []
    for r in rows:
        hits.append({
            "id": r["id"], "depth": len(session.ancestry(r["id"])) - 1,
            "tags": session.tags(r["id"]), "note": session.note(r["id"]),
            "context": " ".join(r["snippet"].split()),  # newlines would break a one-line listing
        })
    return hits
