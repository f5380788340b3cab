"""`loom collapse`: how much of a tuned model's sharpening one temperature on the base model explains."""

from __future__ import annotations

from .common import add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "collapse"
HELP = "collapse vs temperature: the temperature on a base model that comes closest to a tuned one"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Both models read the node's path as the same token ids. At every token of the path's\n"
        "model-written nodes (or of the node alone, --only-node), each gives its full next-token distribution;\n"
        "loom finds the single temperature T on the base model that minimises KL(tuned || base at T) summed\n"
        "over the positions, each position's own best T, the KL left at those temperatures, the KL at T=1,\n"
        "and both models' entropy along the path (bits). Share explained = 1 - KL left / KL at T=1: how much of\n"
        "the tuned model's difference a temperature accounts for. Stored as a record with both models'\n"
        "identities. Needs local models with the same vocabulary (a server gives only top-k logprobs).\n"
        "Example: loom collapse tale --node 2 --tuned demo-wedding --base demo --csv collapse.csv --plot collapse.png",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node whose path is read (default: the current node)")
    p.add_argument("--tuned", metavar="MODEL", help="the tuned model, A (default: the session's model)")
    p.add_argument("--base", metavar="MODEL", required=True, help="the base model, B, whose temperature is fitted")
    p.add_argument(
        "--only-node",
        action="store_true",
        help="compare at the node's own tokens only (default: every model-written node on the path)",
    )
    p.add_argument("--csv", metavar="FILE", help="also write one row per position (entropies, KL, best T)")
    add_plot(p, "entropy of both models, best T per position, KL along the path")
    p.add_argument("--no-save", action="store_true", help="do not store the result as a record")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit
    from ..cli import note as cli_note
    from ..experiments.collapse import CollapseError, collapse, format_collapse
    from ..experiments.models import open_model
    from ..experiments.settings import resolve
    from .common import add_csv_output, add_plot_output, check_plot, open_session, target_node
    from .progress import progress_line

    check_plot(args)  # before the models run
    with open_session(args) as session:
        node_id = target_node(session, args)
        tuned_ref = resolve(session, model=args.tuned).model
        tuned, base = open_model(tuned_ref), open_model(args.base)  # a model against itself: one load
        try:
            with progress_line() as progress:
                result = collapse(
                    session,
                    tuned,
                    base,
                    node_id,
                    scope="node" if args.only_node else "path",
                    save=not args.no_save,
                    progress=progress,
                )
        except CollapseError as exc:
            raise CliError(str(exc)) from exc
    for n in result.notices:
        cli_note(n)
    add_csv_output(args, result)
    wrote = add_plot_output(args, result.plot)
    data = result.to_dict()
    text = format_collapse({**data, "notices": []})
    if result.record is not None:
        text += f"\nstored as record {result.record}"
    emit(args, data, text + wrote)
    return 0
