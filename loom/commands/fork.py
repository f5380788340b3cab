"""`loom fork`: a node with one token swapped for a stored alternative, as a new sibling (headless)."""

from __future__ import annotations

import argparse

from .edit import add_perturb_args

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "fork"
HELP = "fork a node at a token with one of its stored alternatives"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Make a new sibling of node N that keeps its tokens before token I and puts one of the\n"
        "alternatives stored with token I in its place: the branch the model did not take. Name the alternative\n"
        "by its text (--alt, exactly as stored) or its rank (--alt-rank, 1 = the most likely). Tokens count from\n"
        "0; `loom show SESSION --node N --tokens --json` lists them with their alternatives. Prints the new\n"
        "node's id; --generate continues it at once. Nothing is stored when the node, token or alternative is wrong.\n"
        "Example: loom fork tale --node 2 --token 3 --alt-rank 2 --generate -n 4 --max-tokens 32 --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="the model-written node to fork (default: the current node)")
    p.add_argument("--token", type=int, required=True, metavar="I", help="the token to replace, counted from 0")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--alt", metavar="TEXT", help="the stored alternative with this exact text")
    which.add_argument(
        "--alt-rank", type=int, metavar="R", help="the R-th most likely stored alternative (1 = the top)"
    )
    add_perturb_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..experiments.edit import fork, token_alternative
    from .common import open_session, target_node
    from .edit import generation, report
    from .progress import progress_line

    with open_session(args) as session:
        node_id = target_node(session, args)
        token_alternative(session.node(node_id), args.token, args.alt, args.alt_rank)  # before a model is loaded
        backend, params = generation(session, args)
        with progress_line(args.quiet) as progress:
            result = fork(
                session,
                node_id,
                args.token,
                text=args.alt,
                rank=args.alt_rank,
                backend=backend,
                params=params,
                progress=progress,
            )
        report(args, result)
    return 0
