"""`loom import`: bring in a tree from the original loom's JSON or loom's own export."""

from __future__ import annotations

import argparse

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "import"
HELP = "import a tree (original loom JSON or loom JSON)"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Import a tree into a new session (named after the file unless --into is given), or as a\n"
        "subtree under a node of an existing session. Formats: the original loom's JSON (a tree file, a bare\n"
        "node, or a list of nodes; token logprobs and counterfactuals are kept, from its 2021 meta.generation\n"
        "and its later model_responses alike; the summary says which model-written nodes have none, and why)\n"
        "and loom's own JSON export.\n"
        "Example: loom import loom_demo.json --into demo\n"
        "Example: loom import branch.json --into tale --under 12",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="JSON file to import")
    p.add_argument("--into", metavar="SESSION", help="session name or path (default: the file's name; must be new)")
    p.add_argument(
        "--under",
        metavar="NODE",
        nargs="?",
        const="current",
        help="attach the imported tree under this node id (no value: the session's current node)",
    )
    p.add_argument("--format", choices=["auto", "socketteer", "loom-json"], default="auto", help="(default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on standard error")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..cli import CliError, emit, sessions_dir
    from ..io import TreeFormatError, import_loaded, load, terminal_progress
    from ..store import Session, resolve_session

    src = Path(args.file).expanduser()
    try:
        data, kind = load(src, args.format)  # a bad file is reported before any session is made
    except TreeFormatError as exc:
        raise CliError(str(exc)) from None
    if args.into:
        target = resolve_session(args.into, sessions_dir(args))
    else:
        folder = sessions_dir(args)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{src.stem}.loom"
    if args.under is not None and not target.exists():
        raise CliError(f"{target}: no such session to import under (--under needs an existing session)")
    is_new = not target.exists()
    with Session(target) as session:
        if args.under is None and not args.into and session.count():
            raise CliError(
                f"{target}: already exists with {session.count()} nodes; "
                f"name a new session with --into, or add the tree to this one with --into {session.name} --under NODE"
            )
        under = None
        if args.under == "current":
            under = session.current
            if under is None:
                raise CliError(f"{target}: has no nodes to import under")
        elif args.under is not None:
            try:
                under = int(args.under)
            except ValueError:
                raise CliError(f"--under must be a node id (got {args.under!r})") from None
            session.node(under)
        try:
            with terminal_progress(f"importing {src.name}", not args.quiet) as progress:
                summary = import_loaded(session, data, kind, under=under, progress=progress, source=str(src))
        except TreeFormatError as exc:
            failed = exc
        else:
            failed = None
    if failed is not None:
        if is_new:  # leave no half-imported session behind
            for extra in ("", "-wal", "-shm"):
                Path(f"{target}{extra}").unlink(missing_ok=True)
        raise CliError(f"{failed}" + ("" if is_new else f" ({target} is unchanged)"))
    summary.pop("id_map", None)
    summary["session"] = str(target)
    summary["under"] = under
    lines = [
        f"imported {summary['nodes']} nodes ({summary['format']}) into {target}"
        + (f" under node {under}" if under is not None else "")
    ]
    if summary.get("nodes_with_tokens"):
        lines.append(f"  {summary['tokens']} tokens with probabilities on {summary['nodes_with_tokens']} nodes")
    for what, n in (summary.get("not_kept") or {}).items():
        lines.append(f"  {n} {what.replace('_', ' ')} references to nodes outside the file not kept")
    for why, n in (summary.get("without_tokens") or {}).items():
        lines.append(f"  {n} model-written {'node' if n == 1 else 'nodes'} without token data: {why}")
    for note in summary.get("notes", ()):
        lines.append(f"  note: {note}")
    emit(args, summary, "\n".join(lines))
    return 0
