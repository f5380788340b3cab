"""`loom dist`: the next-token distribution after a node (or inside it) as a bar chart."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dist", help="next-token distribution: bar chart and entropy",
        description="The model's top-k next tokens after a node's text (or before one of its tokens), with\n"
        "probabilities and the entropy of the whole distribution in bits.\n"
        "Example: loom dist tale --node 3 --k 15",
    )
    add_node_args(p)
    p.add_argument("--k", type=int, default=10, help="tokens shown (default 10)")
    p.add_argument("--token", type=int, metavar="I", help="the distribution before the node's token I (0-based) instead of after the node")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError, emit
    from .analysis_args import bar, node_text, show_token
    from .common import open_model, open_session

    if not 1 <= args.k <= 100:
        raise CliError(f"--k must be from 1 to 100 (got {args.k})")
    with open_session(args) as session:
        node_id, text = node_text(session, args)
        if args.token is not None:
            node = session.node(node_id)
            toks = node.tokens or []
            if not toks:
                raise CliError(f"node {node_id} has no tokens (it was not written by a model); leave out --token")
            if not 0 <= args.token < len(toks):
                raise CliError(f"node {node_id} has {len(toks)} tokens; --token must be from 0 to {len(toks) - 1}")
            from ..experiments.context import token_context

            # the context the token was sampled in: the node's own ids before it, not re-tokenised text
            text = token_context(session, node_id, args.token)
        backend = open_model(session, args)
        dist = backend.next_token_distribution(text, args.k)
    rows = [(a.text, a.prob) for a in dist.alternatives]
    shown = sum(p for _, p in rows)
    width = max((len(show_token(t)) for t, _ in rows), default=4)
    lines = [f"next token after node {node_id}" + (f" token {args.token}" if args.token is not None else "") + f" ({backend.name}):"]
    lines += [f"  {show_token(t):<{width}} {p:7.2%} {bar(p)}" for t, p in rows]
    ent = "n/a" if dist.entropy_bits is None else f"{dist.entropy_bits:.2f} bits"
    lines.append(f"entropy {ent}; the top {len(rows)} hold {shown:.1%}")
    emit(args, {"node": node_id, "token": args.token, "model": backend.name, "entropy_bits": dist.entropy_bits,
                "alternatives": [{"text": a.text, "id": a.token_id, "prob": a.prob, "logprob": a.logprob} for a in dist.alternatives]},
         "\n".join(lines))
    return 0
