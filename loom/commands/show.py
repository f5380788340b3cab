"""`loom show`: a node's path, children and tokens; its profile as a table and a figure."""

from __future__ import annotations

from .common import add_csv, add_json, add_plot, add_raw, node_dict

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "show"
HELP = "print a node's full text and its children"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Print the text from the root to a node, and list its children.\n"
        "--csv and --plot give the path's profile: every token the models wrote along it, the probability\n"
        "it was sampled at and the entropy of the distribution it came from: by default a lower bound from\n"
        "the stored top-k alternatives (nothing is run); with --model, exact, from that model's whole\n"
        "distribution at the nodes it wrote (stored as a profile record).\n"
        "Example: loom show tale --node 3 --tokens --json\n"
        "         loom show tale --node 3 --model demo --plot path.png --csv path.csv",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node id (default: the current node)")
    p.add_argument("--tokens", action="store_true", help="include tokens with probabilities (JSON)")
    p.add_argument("--model", help="with --csv/--plot: exact entropies from this model (a local model; it is run)")
    add_csv(p, "the path's profile, one row per token: node, token, prob, logprob, entropy_bits")
    add_plot(p, "the probability of each token along the path and the entropy it was sampled from")
    add_json(p)
    add_raw(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit, note
    from ..experiments.models import open_model
    from ..experiments.profile import path_profile
    from .common import add_csv_output, add_plot_output, check_plot, open_session, target_node

    profile = bool(args.csv or args.plot)
    if args.model and not profile:
        raise CliError("--model gives the exact entropies of the path's profile: add --csv FILE or --plot FILE")
    check_plot(args)
    # read only, unless a model runs: its numbers are stored as a record
    with open_session(args, readonly=not args.model) as session:
        node_id = target_node(session, args)
        path = session.path_nodes(node_id)
        kids = session.summaries(node_id)
        result = path_profile(session, node_id, open_model(args.model) if args.model else None) if profile else None
    text = "".join(n.text for n in path)
    lines = [text, "", f"node {node_id}: {len(kids)} children"]
    lines += [f"  [{k['id']}] {k['preview'][:60]!r}" for k in kids]
    wrote = ""
    if result is not None:
        for n in result.notices:
            note(n)
        add_csv_output(args, result)
        wrote = add_plot_output(args, result.plot)
        if result.record is not None:
            wrote += f"\nthe profile is stored as record {result.record}"
    emit(
        args,
        {"node": node_dict(path[-1], args.tokens), "path": [n.id for n in path], "text": text, "children": kids},
        "\n".join(lines) + wrote,
    )
    return 0
