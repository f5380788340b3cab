"""`loom generate`: branches from a node, headless."""

from __future__ import annotations

from .common import add_generation_args, add_json, node_dict

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "generate"
HELP = "generate branches from a node"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Generate branches from a node (default: the session's current node) and commit them.\n"
        "Example: loom generate tale -n 8 --max-tokens 32 --temperature 0.8 --json",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node id to branch from (default: the current node)")
    p.add_argument(
        "--model",
        default=None,
        help="model: demo, a folder, a profile (loom models), openai:MODEL@URL "
        "(default: the session's last model, else the config's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on standard error")
    add_generation_args(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit
    from ..cli import note as cli_note
    from ..experiments.generate import generate_children
    from .common import model_ref, open_model, open_session, resolved_params, target_node
    from .progress import progress_line

    with open_session(args) as session:
        node_id = target_node(session, args)
        ref = model_ref(session, args)
        params = resolved_params(session, args, ref)
        backend = open_model(session, args, ref, params)
        with progress_line(args.quiet) as progress:
            result = generate_children(session, backend, node_id, params, progress=progress)
        for note in result.notices:
            cli_note(note)
        lines = [f"{len(result.nodes)} branches from node {node_id}:"]
        lines += [
            f"  [{n.id}] p̄={'–' if n.mean_prob is None else f'{n.mean_prob:.2f}'} {n.text!r}" for n in result.nodes
        ]
        emit(args, {"parent": node_id, "nodes": [node_dict(n) for n in result.nodes]}, "\n".join(lines))
    return 0
