"""`loom vs`: the same node on two models, side by side, with a summary of the difference."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_csv, add_generation_args, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "vs"
HELP = "compare two models on the same node"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Generate branches from a node on two models with the same seeds (committed as\n"
        "children), and compare them: mean entropy per token, share of tokens above 90%,\n"
        "and each model's top next token.\n"
        "Example: loom vs tale --model demo --model demo-wedding -n 4 --max-tokens 24 --plot vs.png",
    )
    add_node_args(p, model=False)
    p.add_argument(
        "--model",
        action="append",
        default=[],
        required=True,
        help="a model (give exactly two); vs does not change the session's model",
    )
    add_generation_args(p)
    add_csv(p, "one row per token of every branch: model, node, token, prob, entropy_bits")
    add_plot(p, "the entropy at every token of each model's branches and the share of tokens above 90%%")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import textwrap

    from ..cli import CliError, emit
    from ..cli import note as cli_note
    from ..experiments.models import open_model
    from ..experiments.vs import SURE, compare_models
    from ..textsafe import one_line
    from .common import (
        add_csv_output,
        add_plot_output,
        check_plot,
        node_dict,
        open_session,
        resolved_params,
        target_node,
    )
    from .progress import progress_line

    if len(args.model) != 2:
        raise CliError(f"give exactly two models with --model A --model B (got {len(args.model)})")
    check_plot(args)
    with open_session(args) as session:
        node_id = target_node(session, args)
        params = resolved_params(session, args, args.model[0])
        backends = [open_model(m) for m in args.model]
        with progress_line() as progress:
            result = compare_models(session, backends, node_id, params, progress=progress)
    add_csv_output(args, result)
    wrote = add_plot_output(args, result.plot) if len(result.models) == 2 else ""
    for note in result.notices:
        cli_note(note)
    col = 38
    lines = [f"node {node_id}, {params.n} branches each, seed {result.params.seed}:", ""]
    lines.append(f"{result.models[0].model:<{col}} | {result.models[1].model}")
    lines.append("-" * col + "-+-" + "-" * col)
    for a, b in zip(result.models[0].nodes, result.models[1].nodes):
        wa = textwrap.wrap(one_line(a.text, 100_000), col) or [""]
        wb = textwrap.wrap(one_line(b.text, 100_000), col) or [""]
        for i in range(max(len(wa), len(wb))):
            lines.append(f"{(wa[i] if i < len(wa) else ''):<{col}} | {wb[i] if i < len(wb) else ''}")
        lines.append(" " * col + " |")

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    rows = [
        (
            "mean entropy per token (bits)",
            [fmt(m.mean_entropy_bits, ".2f") + ("" if m.entropy_exact else " (est.)") for m in result.models],
        ),
        (f"tokens above {SURE:.0%}", [fmt(m.share_sure, ".0%") for m in result.models]),
        ("top next token", [("n/a" if m.top is None else f"{m.top.text!r} {m.top.prob:.0%}") for m in result.models]),
        ("next-token entropy (bits)", [fmt(m.next_entropy_bits, ".2f") for m in result.models]),
    ]
    for label, vals in rows:
        lines.append(f"{label:<30} {vals[0]:>16} {vals[1]:>16}")
    if result.record is not None:
        lines.append(f"stored as record {result.record}")
    data = result.to_dict()
    for m, d in zip(result.models, data["models"]):
        d["branches"] = [node_dict(n) for n in m.nodes]
    emit(args, data, "\n".join(lines) + wrote)
    return 0
