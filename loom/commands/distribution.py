"""`loom dist`: the next-token distribution after a node (or inside it) as a bar chart."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_csv, add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "dist"
HELP = "next-token distribution: bar chart and entropy"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="The model's top-k next tokens after a node's text (or before one of its tokens), with\n"
        "probabilities and the entropy of the whole distribution in bits.\n"
        "Example: loom dist tale --node 3 --k 15",
    )
    add_node_args(p)
    p.add_argument("--k", type=int, default=10, help="tokens shown (default 10)")
    p.add_argument(
        "--token",
        type=int,
        metavar="I",
        help="the distribution before the node's token I (0-based) instead of after the node",
    )
    add_csv(p, "one row per token: rank, token_id, text, prob, logprob, sampled")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit
    from ..experiments.distribution import distribution
    from .analysis_args import bar, show_token
    from .common import add_csv_output, open_model, open_session, target_node

    with open_session(args) as session:
        node_id = target_node(session, args)
        result = distribution(session, open_model(session, args), node_id, token=args.token, k=args.k)
    add_csv_output(args, result)
    rows = result.rows()
    width = max((len(show_token(r["text"])) for r in rows), default=4)
    lines = [
        f"next token after node {node_id}"
        + (f" token {args.token}" if args.token is not None else "")
        + f" ({result.model['name']}):"
    ]
    lines += [
        f"  {show_token(r['text']):<{width}} {r['prob']:7.2%} {bar(r['prob'])}"
        + ("  ← sampled" if r["sampled"] else "")
        for r in rows
    ]
    d = result.to_dict()
    ent = "n/a" if d["entropy_bits"] is None else f"{d['entropy_bits']:.2f} bits"
    lines.append(
        f"entropy {ent}; the top {len(rows)} hold {d['top_mass']:.1%}"
        + ("" if result.record is None else f"; stored as record {result.record}")
    )
    emit(args, d, "\n".join(lines))
    return 0
