"""`loom tag`: tags, bookmarks and notes on nodes."""

from __future__ import annotations

import argparse
import sys

from .common import add_json

BOOKMARK = "bookmark"  # the same as loom.io.tags.BOOKMARK, without importing it for --help

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "tag"
HELP = "tag, bookmark or annotate nodes; list tags and bookmarks"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Change a node's tags, bookmark and note, or list what is tagged. Bookmarks are the tag\n"
        "'bookmark'. With no change given, shows the node's tags and note.\n"
        "Example: loom tag tale --node 7 --add attractor --bookmark --note 'drifts back to the same ending'\n"
        "Example: loom tag tale --bookmarks        (list bookmarked nodes)\n"
        "Example: loom tag tale --list             (every tag with its count)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node id (default: the current node)")
    p.add_argument("--add", action="append", default=[], metavar="TAG", help="add a tag (repeatable)")
    p.add_argument("--remove", action="append", default=[], metavar="TAG", help="remove a tag (repeatable)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--bookmark", action="store_true", help="bookmark the node")
    g.add_argument("--unbookmark", action="store_true", help="remove the bookmark")
    p.add_argument("--note", metavar="TEXT", help="set the node's note ('-' reads standard input, '' removes it)")
    p.add_argument("--list", action="store_true", help="list every tag with how many nodes carry it")
    p.add_argument("--bookmarks", action="store_true", help="list bookmarked nodes")
    p.add_argument("--tagged", metavar="TAG", help="list nodes with this tag")
    add_json(p)
    p.set_defaults(func=run)


def check_tag(tag: str) -> str:
    from ..cli import CliError
    from ..io.tags import TagError
    from ..io.tags import check_tag as check

    try:
        return check(tag)
    except TagError as exc:
        raise CliError(str(exc)) from None


def _listing(session, ids: list[int]) -> list[dict]:
    out = []
    for nid in ids:
        s = session.summaries(session.parent_id(nid))
        preview = next((x["preview"] for x in s if x["id"] == nid), "")
        out.append(
            {"id": nid, "preview": " ".join(preview.split())[:70], "tags": session.tags(nid), "note": session.note(nid)}
        )
    return out


def run(args) -> int:
    from ..cli import emit
    from .common import open_session, target_node

    with open_session(args) as session:
        if args.list:
            tags = session.all_tags()
            emit(args, tags, "\n".join([f"{len(tags)} tags:"] + [f"  {t:<30} {n} nodes" for t, n in tags.items()]))
            return 0
        if args.bookmarks or args.tagged:
            tag = BOOKMARK if args.bookmarks else check_tag(args.tagged)
            rows = _listing(session, session.tagged(tag))
            emit(
                args,
                rows,
                "\n".join([f"{len(rows)} nodes tagged {tag!r}:"] + [f"  [{r['id']}] {r['preview']!r}" for r in rows]),
            )
            return 0
        node_id = target_node(session, args)
        for t in args.add + ([BOOKMARK] if args.bookmark else []):
            session.add_tag(node_id, check_tag(t))
        for t in args.remove + ([BOOKMARK] if args.unbookmark else []):
            session.remove_tag(node_id, check_tag(t))
        if args.note is not None:
            session.set_note(node_id, sys.stdin.read() if args.note == "-" else args.note)
        tags, note = session.tags(node_id), session.note(node_id)
        text = f"node {node_id}: tags {', '.join(tags) if tags else '(none)'}" + (f"\nnote: {note}" if note else "")
        emit(args, {"id": node_id, "tags": tags, "bookmarked": BOOKMARK in tags, "note": note}, text)
    return 0
