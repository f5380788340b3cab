"""`loom sweep`: k automatic perturbations of a node, each replayed and compared."""

from __future__ import annotations

from .common import add_csv, add_generation_args, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "sweep"
HELP = "perturb a node k ways, replay each like the original, count reconvergences"


def add_parser(sub) -> None:
    from ..analysis.perturb import KINDS

    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Make K perturbations of a node (each a real branch derived from it), regenerate each like the\n"
        "node's original continuation (same model, parameters, token count, seed) and summarise how many\n"
        "reconverge and where. If the node has no model continuation yet, one is generated first with the\n"
        f"generation options. Perturbations: {', '.join(KINDS)}.\n"
        "Example: loom sweep tale --node 1 -k 6 --phrase 'It was raining.' --seed 3 --json\n"
        "         loom sweep tale --node 1 -k 6 --csv sweep.csv --plot sweep.png",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node to perturb (default: the current node)")
    p.add_argument("-k", "--perturbations", type=int, default=6, help="how many perturbations (default 6)")
    p.add_argument("--kinds", help="comma-separated perturbation kinds (default: all that apply)")
    p.add_argument("--phrase", help="the phrase that insert_phrase inserts")
    p.add_argument(
        "--original-child", type=int, metavar="ID", help="the continuation to compare against (default: the first)"
    )
    p.add_argument("--run", type=int, default=4, metavar="K", help="reconvergence run length (default 4)")
    p.add_argument("--level", choices=("auto", "token", "word"), default="auto")
    p.add_argument("--model", help="model for a new original continuation (default: the session's, else the config's)")
    add_csv(p, "one row per perturbation: status, divergence, reconvergence, similarities, the replay's text")
    add_plot(p, "one row per perturbation: where it diverged and where it reconverged")
    add_generation_args(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.perturb import PerturbError, parse_kinds
    from ..cli import CliError, emit
    from ..experiments.replay import ReplayError, original_continuations
    from ..experiments.sweep import format_sweep, sweep
    from .common import (
        add_csv_output,
        add_plot_output,
        check_plot,
        open_model,
        open_session,
        resolved_params,
        target_node,
    )
    from .progress import progress_line

    check_plot(args)  # before anything is perturbed
    with open_session(args) as session:
        node_id = target_node(session, args)
        try:
            kinds = parse_kinds(args.kinds)
            cands = original_continuations(session, node_id)
            chosen = (
                next((c for c in cands if c.id == args.original_child), None)
                if args.original_child
                else (cands[0] if cands else None)
            )
            params = resolved_params(session, args, chosen.model if chosen else None)
            backend = open_model(session, args, chosen.model if chosen else None, params)
            with progress_line() as progress:
                result = sweep(
                    session,
                    backend,
                    node_id,
                    args.perturbations,
                    kinds=kinds,
                    phrase=args.phrase,
                    seed=args.seed if args.seed is not None else 0,
                    params=params,
                    original_child=args.original_child,
                    run=args.run,
                    level=args.level,
                    progress=progress,
                )
        except (ReplayError, PerturbError) as exc:
            raise CliError(str(exc)) from exc
        add_csv_output(args, result)
        wrote = add_plot_output(args, result.plot)
        data = result.to_dict()
        emit(args, data, format_sweep(data) + f"\nstored as record {result.record}" + wrote)
    return 0
