"""`loom edit`: a node's text changed, as a new sibling derived from it (headless)."""

from __future__ import annotations

import argparse

from .common import GENERATION_FLAGS, add_generation_args, add_json

WHAT = "perturbation (default: loom's own settings; --generate continues the new node at once, with the flags below)"

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "edit"
HELP = "edit a node's text as a new sibling (a perturbation)"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Save node N with new text as a new sibling derived from it; the original stays, so the two\n"
        "branches can be compared (loom compare, loom replay). Give the whole new text (--text, or --text-file,\n"
        "'-' for standard input), or replace every occurrence of a substring (--replace OLD --with NEW).\n"
        "Prints the new node's id; --generate continues it at once (a perturb-and-regenerate experiment\n"
        "in one command). Nothing is stored when the node, the text or a setting is wrong.\n"
        "Example: loom edit tale --node 1 --replace fox --with wolf --generate -n 4 --max-tokens 32 --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="the node to edit (default: the current node)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="the node's whole new text")
    what.add_argument("--text-file", metavar="FILE", help="read the new text from FILE ('-': standard input), exactly")
    what.add_argument(
        "--replace", metavar="OLD", help="replace every occurrence of OLD in the node's text (with --with)"
    )
    p.add_argument(
        "--with", dest="with_text", metavar="NEW", help="what --replace puts in place of OLD ('' deletes it)"
    )
    add_perturb_args(p)
    p.set_defaults(func=run)


def add_perturb_args(p: argparse.ArgumentParser) -> None:
    """--generate with the generation flags of `loom generate`, --model, --quiet, --json."""
    p.add_argument("--generate", action="store_true", help="generate continuations of the new node at once")
    p.add_argument(
        "--model",
        default=None,
        help="with --generate: the model (default: the session's last model, else the config's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on standard error")
    add_generation_args(p)
    add_json(p)


def read_text(args) -> str | None:
    """The new text from --text or --text-file (None with --replace)."""
    import sys

    from ..cli import CliError

    if args.replace is not None:
        if args.with_text is None:
            raise CliError("--replace OLD needs --with NEW (--with '' deletes OLD)")
        return None
    if args.with_text is not None:
        raise CliError("--with goes with --replace OLD")
    if args.text_file is None:
        return args.text
    if args.text_file == "-":
        return sys.stdin.read()
    try:
        with open(args.text_file, encoding="utf-8", newline="") as fh:  # exactly: line ends too
            return fh.read()
    except OSError as exc:
        raise CliError(f"{args.text_file}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{args.text_file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def generation(session, args):
    """(backend, params) for --generate, checked and the model opened; (None, None) without it.
    Generation flags without --generate are refused (they would do nothing)."""
    from ..cli import CliError
    from .common import model_ref, open_model, resolved_params

    given = [name for name in GENERATION_FLAGS if getattr(args, name, None) is not None]
    if not args.generate:
        if given or args.model:
            flag = "--" + (given[0] if given else "model").replace("_", "-")
            raise CliError(f"{'-n' if flag == '--n' else flag} only applies with --generate")
        return None, None
    ref = model_ref(session, args)
    params = resolved_params(session, args, ref)
    return open_model(session, args, ref, params), params


def report(args, result) -> None:
    """Print the new node (its id first) and its continuations."""
    from ..cli import emit
    from ..cli import note as cli_note

    for note in result.notices:
        cli_note(note)
    c = result.change
    if result.how == "fork":
        what = f"fork of node {result.source} at token {c['token']}: {c['now']!r} (rank {c['rank']}, p={c['prob']:.2%}) in place of {c['was']!r}"
    elif "replace" in c:
        what = f"edit of node {result.source}: {c['replace']!r} -> {c['with']!r} ({c['count']}x)"
    else:
        what = f"edit of node {result.source}: new text"
    lines = [f"node {result.node.id}: {what}"]
    if result.generated:
        lines.append(f"{len(result.generated)} branches from node {result.node.id}:")
        lines += [
            f"  [{n.id}] p̄={'–' if n.mean_prob is None else f'{n.mean_prob:.2f}'} {n.text!r}" for n in result.generated
        ]
    emit(args, result.to_dict(), "\n".join(lines))


def run(args) -> int:
    from ..experiments.edit import edit, edited_text
    from .common import open_session, target_node
    from .progress import progress_line

    text = read_text(args)
    replace = (args.replace, args.with_text) if args.replace is not None else None
    with open_session(args) as session:
        node_id = target_node(session, args)
        edited_text(session.node(node_id), text, replace)  # a bad edit fails before a model is loaded
        backend, params = generation(session, args)
        with progress_line(args.quiet) as progress:
            result = edit(session, node_id, text, replace=replace, backend=backend, params=params, progress=progress)
        report(args, result)
    return 0
