"""`loom search`: full-text search over a session's node texts."""

from __future__ import annotations

import argparse

from .common import add_json, add_raw

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "search"
HELP = "find text in a session's nodes"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Search every node's text for the query as written (any characters, part of a word too,\n"
        "in any letter case). Each hit shows the node id, its depth, its tags and the text around the\n"
        "match, with the match in [brackets]; --json gives the match's offsets in `match`.\n"
        "Example: loom search demo 'wake up' --limit 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("query", help="words to find")
    p.add_argument("--limit", type=int, default=50, help="most results (default 50)")
    add_json(p)
    add_raw(p, "matched text")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit
    from ..io.search import SearchError, search
    from .common import open_session

    if not args.query.strip():
        raise CliError("the search query is empty")
    if args.limit < 1:
        raise CliError(f"--limit must be at least 1 (got {args.limit})")
    with open_session(args, readonly=True) as session:
        try:
            hits = search(session, args.query, limit=args.limit)
        except SearchError as exc:
            raise CliError(str(exc)) from None
        lines = [
            f"{len(hits)} nodes match {args.query!r}" + (" (showing the first)" if len(hits) == args.limit else "")
        ]
        for h in hits:
            tags = f"  [{', '.join(h['tags'])}]" if h["tags"] else ""
            start, end = h["match"]
            shown = h["context"][:start] + "[" + h["context"][start:end] + "]" + h["context"][end:]
            lines.append(f"  node {h['id']} (depth {h['depth']}){tags}: {shown}")
        emit(args, hits, "\n".join(lines))
    return 0
