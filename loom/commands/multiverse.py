"""`loom multiverse`: the block multiverse after a node, as text, JSON, SVG or PNG."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_csv, add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "multiverse"
HELP = "block multiverse: the tree of likely continuations"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Expand the continuations after a node to DEPTH tokens, keeping the top K tokens at each\n"
        "step (or fewer once --mass is reached), and print every sequence with its probability;\n"
        "--svg/--png draw it as nested blocks whose heights are the probabilities.\n"
        "Example: loom multiverse tale --depth 4 --k 4 --svg tale.svg",
    )
    add_node_args(p)
    p.add_argument("--depth", type=int, default=3, help="tokens deep (default 3)")
    p.add_argument("--k", type=int, default=5, help="tokens kept per step (default 5)")
    p.add_argument("--mass", type=float, help="stop adding tokens at a step once they hold this probability (0-1]")
    p.add_argument("--svg", metavar="FILE", help="write the picture as SVG")
    p.add_argument("--png", metavar="FILE", help="write the picture as PNG (needs cairosvg)")
    p.add_argument("--theme", help="palette for the picture (default loom-dark)")
    p.add_argument(
        "--absolute", action="store_true", help="picture height = probability 1 (default: the first column fills it)"
    )
    add_csv(p, "one row per block: depth, token, probability of the sequence, step probability, sequence text")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.multiverse import block_label
    from ..cli import emit
    from ..experiments.multiverse import multiverse
    from ..render.svg import write_png, write_svg
    from .analysis_args import theme_named
    from .common import add_csv_output, open_model, open_session, target_node

    theme = theme_named(args.theme) if args.svg or args.png else None
    with open_session(args) as session:
        node_id = target_node(session, args)
        result = multiverse(session, open_model(session, args), node_id, args.depth, args.k, args.mass)
    view = result.view
    written = []
    if args.svg:
        written.append(str(write_svg(view, theme, args.svg, fit=not args.absolute)))
    if args.png:
        written.append(str(write_png(view, theme, args.png, fit=not args.absolute)))
    add_csv_output(args, result)
    lines = [
        f"block multiverse after node {node_id} ({view.model}, depth {view.depth}, top-{view.k}"
        + (f", mass {view.mass:g}" if view.mass else "")
        + "):"
    ]
    for b in view.walk():
        lines.append(f"{'  ' * b.depth}{block_label(b)!r:<14} {b.prob:9.4%}  (step {b.cond_prob:6.1%})")
    lines.append("mass per depth: " + ", ".join(f"{view.mass_at(d):.4f}" for d in range(1, view.depth + 1)))
    lines += [f"wrote {w}" for w in written]
    if result.record is not None:
        lines.append(f"stored as record {result.record}")
    emit(args, {**result.to_dict(), "written": written}, "\n".join(lines))
    return 0
