"""`loom open [SESSION]`: the interactive app."""

from __future__ import annotations

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "open"
HELP = "open the app on a session (the default command)"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Open the app. Example: loom open my-story   (or just: loom my-story)",
    )
    p.add_argument("session", nargs="?", help="session name (in the sessions folder) or path; new if absent")
    p.add_argument(
        "--model",
        default=None,
        help="model: demo, demo-wedding, a local folder, a cached Hugging Face id, or a profile",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import time
    from pathlib import Path

    from ..cli import sessions_dir
    from ..store import Session, resolve_session

    folder = sessions_dir(args)
    if args.session:
        path = resolve_session(args.session, folder)
        if path.parent == folder:  # a new session by name: the sessions folder is made when missing
            folder.mkdir(parents=True, exist_ok=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / time.strftime("session-%Y%m%d-%H%M%S.loom")
    from ..config import load_config

    config = load_config()  # a broken config is reported (file and line) before the screen opens
    created = not path.exists()  # a new file the app removes again if no node is ever written
    session = Session(path)  # so are bad session files (not SQLite, newer schema)
    from ..ui.app import LoomApp

    LoomApp(session, model=args.model, sessions_dir=Path(folder), config=config, created=created).run()
    return 0
