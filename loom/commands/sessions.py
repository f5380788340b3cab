"""`loom sessions`: list the sessions in the sessions folder."""

from __future__ import annotations

import datetime

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "sessions"
HELP = "list sessions"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help=HELP, description="List sessions. Example: loom sessions --json")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit, sessions_dir
    from ..store import list_sessions

    folder = sessions_dir(args)
    rows = list_sessions(folder) if folder.exists() else []
    lines = [f"sessions in {folder}:"] if rows else [f"no sessions in {folder}"]
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["modified"]).strftime("%Y-%m-%d %H:%M")
        status = f"{r['nodes']} nodes" if r["error"] is None else f"unreadable: {r['error']}"
        lines.append(f"  {r['name']:<32} {when}  {status}")
    emit(args, rows, "\n".join(lines))
    return 0
