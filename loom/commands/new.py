"""`loom new`: a new session with a prompt as its root."""

from __future__ import annotations

import sys

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "new"
HELP = "create a session from a prompt"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Create a session whose root is PROMPT ('-' reads standard input).\n"
        "Example: loom new tale --prompt 'Once upon a time'",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--prompt", required=True, help="root text, or - for standard input")
    p.add_argument(
        "--model",
        default=None,
        help="the session's model, used by every later command and the app "
        "unless another is named (default: the config's)",
    )
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit, sessions_dir
    from ..experiments.sessions import new_session
    from ..store import resolve_session

    text = sys.stdin.read() if args.prompt == "-" else args.prompt
    folder = sessions_dir(args)
    path = resolve_session(args.session, folder)
    if path.parent == folder:  # a new session by name: the sessions folder is made when missing
        folder.mkdir(parents=True, exist_ok=True)
    with new_session(path, text, model=args.model) as session:
        emit(
            args,
            {"session": str(session.path), "root": session.current},
            f"created {session.path} (root node {session.current})",
        )
    return 0
