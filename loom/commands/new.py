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
    p.add_argument("--model", default=None, help="the session's model, used by every later command and the app "
                   "unless another is named (default: the config's)")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit
    from .common import open_session, stored_ref

    text = sys.stdin.read() if args.prompt == "-" else args.prompt
    if args.model:
        from ..backends import open_backend

        backend = open_backend(args.model)  # a model that does not open is refused before any file is written
        model = stored_ref(args.model, backend)
        backend.close()
    with open_session(args, create=True) as session:
        if session.count():
            raise CliError(f"{session.path}: already exists with {session.count()} nodes; pick another name")
        root = session.add_node(None, text, "prompt")
        session.current = root.id
        if args.model:
            session.set_state("model", model)
        emit(args, {"session": str(session.path), "root": root.id}, f"created {session.path} (root node {root.id})")
    return 0
