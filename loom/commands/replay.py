"""`loom replay`: regenerate below an edit like the original, then compare."""

from __future__ import annotations

from .common import add_csv, add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "replay"
HELP = "regenerate an edited node like the original and compare"


def add_parser(sub) -> None:
    from .compare import add_compare_args

    p = sub.add_parser(
        NAME,
        help=HELP,
        description="From a node made by an edit (or below one), generate one continuation with the original\n"
        "continuation's model, parameters, stopping rule (its token limit and stop strings, or its token count if the limit cut it) and seed, then compare the two and store the comparison.\n"
        "At temperature 0, or with nothing perturbed, the replay reproduces the original.\n"
        "Example: loom replay tale --node 7 --json",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="the edited node, or a node below it (default: the current node)")
    p.add_argument(
        "--original-child",
        type=int,
        metavar="ID",
        help="which continuation of the original to replay (default: its first model-written child)",
    )
    add_compare_args(p)
    add_csv(p, "one row per token or word of each side: whether it is in a shared run, its probability")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit
    from ..cli import note as cli_note
    from ..experiments.compare import replay_and_compare
    from .common import add_csv_output, open_session, target_node
    from .compare import format_comparison

    with open_session(args) as session:
        node_id = target_node(session, args)
        res = replay_and_compare(
            session,
            node_id,
            original_child=args.original_child,
            run=args.run,
            level=args.level,
            include_edit=args.include_edit,
        )
    for note in res.notices:
        cli_note(note)
    add_csv_output(args, res)
    data = res.to_dict()
    text = (
        f"replayed node {res.original_child.id} below edit {res.edited.id} as node {res.replay.id} "
        f"({res.params.sampler}, seed {res.params.seed}, {res.params.max_tokens} tokens)\n"
        + format_comparison(data["comparison"], res.record)
    )
    emit(args, data, text)
    return 0
