"""`loom show`: a node's path, children and tokens."""

from __future__ import annotations

from .common import add_json, add_raw, node_dict


def add_parser(sub) -> None:
    p = sub.add_parser(
        "show", help="print a node's full text and its children",
        description="Print the text from the root to a node, and list its children.\nExample: loom show tale --node 3 --tokens --json",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node id (default: the current node)")
    p.add_argument("--tokens", action="store_true", help="include tokens with probabilities (JSON)")
    add_json(p)
    add_raw(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit
    from .common import open_session, target_node

    with open_session(args, readonly=True) as session:
        node_id = target_node(session, args)
        path = session.path_nodes(node_id)
        kids = session.summaries(node_id)
        text = "".join(n.text for n in path)
        lines = [text, "", f"node {node_id}: {len(kids)} children"]
        lines += [f"  [{k['id']}] {k['preview'][:60]!r}" for k in kids]
        emit(args, {"node": node_dict(path[-1], args.tokens), "path": [n.id for n in path], "text": text,
                    "children": kids}, "\n".join(lines))
    return 0
