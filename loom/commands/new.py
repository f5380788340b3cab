"""`loom new`: a new session with a prompt as its root."""

from __future__ import annotations

import sys

from .common import add_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "new", help="create a session from a prompt",
        description="Create a session whose root is PROMPT ('-' reads standard input).\n"
        "Example: loom new tale --prompt 'Once upon a time'",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--prompt", required=True, help="root text, or - for standard input")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit
    from .common import open_session

    text = sys.stdin.read() if args.prompt == "-" else args.prompt
    with open_session(args, create=True) as session:
        if session.count():
            raise CliError(f"{session.path}: already exists with {session.count()} nodes; pick another name")
        root = session.add_node(None, text, "prompt")
        session.current = root.id
        emit(args, {"session": str(session.path), "root": root.id}, f"created {session.path} (root node {root.id})")
    return 0
