"""`loom replay`: regenerate below an edit like the original, then compare."""

from __future__ import annotations

from .common import add_json


def add_parser(sub) -> None:
    from .compare import add_compare_args

    p = sub.add_parser(
        "replay", help="regenerate an edited node like the original and compare",
        description="From a node made by an edit (or below one), generate one continuation with the original\n"
        "continuation's model, parameters, stopping rule (its token limit and stop strings, or its token count if the limit cut it) and seed, then compare the two and store the comparison.\n"
        "At temperature 0, or with nothing perturbed, the replay reproduces the original.\n"
        "Example: loom replay tale --node 7 --json",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="the edited node, or a node below it (default: the current node)")
    p.add_argument("--original-child", type=int, metavar="ID",
                   help="which continuation of the original to replay (default: its first model-written child)")
    add_compare_args(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..backends import open_backend
    from ..cli import CliError, emit, note as cli_note
    from ..experiments.compare import compare_nodes, store_comparison
    from ..experiments.replay import ReplayError, edited_node, original_continuations, replay
    from .common import node_dict, open_session, target_node
    from .compare import format_comparison

    with open_session(args) as session:
        node_id = target_node(session, args)
        try:
            edited = edited_node(session, node_id)
            cands = original_continuations(session, edited.derived_from)
            chosen = next((c for c in cands if c.id == args.original_child), None) if args.original_child else (cands[0] if cands else None)
            model = chosen.model if chosen else "demo"
            backend = open_backend(model)
            res = replay(session, backend, edited.id, original_child=args.original_child)
            for note in res.notices:
                cli_note(note)
            if res.replay is None:
                raise CliError("the replay made no tokens")
            comp = compare_nodes(session, res.original_child.id, res.replay.id, args.run, args.level, args.include_edit)
        except ReplayError as exc:
            raise CliError(str(exc)) from exc
        rid = store_comparison(session, comp, include_edit=args.include_edit, replay=True)
        data = {"edited": edited.id, "original": res.original.id, "original_child": res.original_child.id,
                "replay": node_dict(res.replay), "params": res.params.to_dict(), "comparison": {**comp.to_dict(), "record": rid}}
        text = (f"replayed node {res.original_child.id} below edit {edited.id} as node {res.replay.id} "
                f"({res.params.sampler}, seed {res.params.seed}, {res.params.max_tokens} tokens)\n"
                + format_comparison(data["comparison"], rid))
        emit(args, data, text)
    return 0
