"""`loom forks`: where the path's outcome is decided (forking tokens) and where the basin begins."""

from __future__ import annotations

from .analysis_args import add_attractor_args
from .common import add_generation_args, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "forks"
HELP = "forking tokens and the point of no return along a path"


def add_parser(sub) -> None:
    from ..analysis.forks import DEFAULT_ALPHA, DEFAULT_MIN_CHANGE, DEFAULT_SHARE
    from ..experiments.forks import ALTERNATIVES, DEFAULTS, MIN_PROB

    p = sub.add_parser(
        NAME,
        help=HELP,
        description="At each position of the path to a node, continue the path's token and its most likely recorded\n"
        "alternatives M times each (a short continuation, batched), and count how many end in the attractor (or,\n"
        "with no attractor, in the biggest meaning cluster). A position's rate is the mixture over the tokens\n"
        "weighted by their probabilities, with a 95% Wilson interval. A fork is a token whose choice moved the rate\n"
        "significantly: its own continuations against its alternatives' (two-proportion z-test, Holm-corrected over\n"
        "the path). The point of no return is the first position from which every rate is at least --share.\n"
        "Positions count the path's model-written tokens from 0 (as the app's token cursor does).\n"
        "Example: loom forks tale --node 2 --attractor 'wedding=/wedd|feast|marr/' --samples 8 --max-tokens 16 --csv forks.csv",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="the path's last node (default: the current node)")
    p.add_argument("--model", help="the model (default: the one that wrote the path's tokens)")
    p.add_argument(
        "--samples",
        type=int,
        dest="n",
        metavar="M",
        help=f"continuations of each token (default {DEFAULTS['n']}; the same as -n)",
    )
    p.add_argument(
        "--alternatives",
        type=int,
        default=ALTERNATIVES,
        metavar="K",
        help=f"most likely recorded alternatives continued besides the path's token (default {ALTERNATIVES})",
    )
    p.add_argument(
        "--min-prob",
        type=float,
        default=MIN_PROB,
        help=f"leave out alternatives less likely than this (default {MIN_PROB:g})",
    )
    p.add_argument("--stride", type=int, default=1, metavar="K", help="every K-th position (default 1)")
    p.add_argument("--from", type=int, dest="start", metavar="POS", help="first position (default 0)")
    p.add_argument(
        "--to", type=int, dest="end", metavar="POS", help="last position, inclusive (default: the path's last token)"
    )
    p.add_argument(
        "--share",
        type=float,
        default=DEFAULT_SHARE,
        help=f"the point of no return: from where every rate is at least this (default {DEFAULT_SHARE:g})",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"significance level of the fork test, after Holm's correction (default {DEFAULT_ALPHA:g})",
    )
    p.add_argument(
        "--min-change",
        type=float,
        default=DEFAULT_MIN_CHANGE,
        help=f"least move of the rate that counts as a fork (default {DEFAULT_MIN_CHANGE:g})",
    )
    p.add_argument("--no-save", action="store_true", help="do not store the result as a record")
    p.add_argument("--csv", metavar="FILE", help="also write one row per position and token continued")
    add_plot(p, "the outcome rate along the path, the forks and the point of no return")
    m = p.add_argument_group("the outcome", "one attractor (without one: the meaning clusters of the continuations)")
    add_attractor_args(m)
    add_generation_args(p, n_help=f"continuations of each token (default {DEFAULTS['n']})")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError
    from ..experiments.forks import DEFAULTS, ForksError, forks, format_forks, path_model, path_tokens, select
    from .analysis_args import attractors_from
    from .common import check_plot, finish, open_model, open_session, resolved_params, target_node
    from .progress import progress_line

    check_plot(args)  # before any sample is drawn
    with open_session(args) as session:
        node_id = target_node(session, args)
        attractors = attractors_from(args, session)
        if len(attractors) > 1:
            raise CliError(
                f"forks follows one attractor at a time (got {len(attractors)}: "
                f"{', '.join(a.name for a in attractors)})"
            )
        try:
            select(path_tokens(session, node_id)[0], args.start, args.end, args.stride)  # before loading a model
            ref = args.model or path_model(session, node_id)
            params = resolved_params(session, args, ref, experiment=DEFAULTS)
            backend = open_model(session, args, ref)
            with progress_line() as progress:
                result = forks(
                    session,
                    backend,
                    node_id,
                    params,
                    attractor=attractors[0] if attractors else None,
                    alternatives=args.alternatives,
                    min_prob=args.min_prob,
                    stride=args.stride,
                    start=args.start,
                    end=args.end,
                    share=args.share,
                    alpha=args.alpha,
                    min_change=args.min_change,
                    cluster_similarity=args.cluster_similarity,
                    cluster_words=args.cluster_words,
                    save=not args.no_save,
                    progress=progress,
                )
        except (ForksError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        finish(args, result, format_forks(result))
    return 0
