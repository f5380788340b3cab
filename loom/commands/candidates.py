"""`loom score`: the probability of each candidate continuation after a node, normalised."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_csv, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "score"
HELP = "score candidate continuations (e.g. the numbers 0-100)"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Score each candidate as a whole sequence after a node's text, normalise over the\n"
        "candidates, and print the distribution, its entropy and the top choice.\n"
        "With --compare-model, the same candidates are scored on a second model too (both stored), and\n"
        "--plot draws both strips one above the other, candidate by candidate.\n"
        "Example: loom score dice --preset numbers --top 15\n"
        "         loom score tale --candidate ' wedding' --candidate ' war' --sep ''\n"
        "         loom score dice --preset numbers --model demo --compare-model demo-wedding --plot numbers.png",
    )
    add_node_args(p)
    src = p.add_argument_group("candidates (any mix)")
    src.add_argument("--preset", action="append", default=[], help="a preset list: numbers (the integers 0-100)")
    src.add_argument("--file", action="append", default=[], help="a file with one candidate per line")
    src.add_argument(
        "--candidate", "-c", action="append", default=[], metavar="TEXT", help="one candidate (repeatable)"
    )
    p.add_argument(
        "--sep",
        default=None,
        help="text put between the node and each candidate (default: a space when the text does not end in whitespace)",
    )
    p.add_argument(
        "--end", default="", help="text put after each candidate, so that ' 5' does not also count ' 57' (e.g. '.')"
    )
    p.add_argument(
        "--answer",
        choices=("complete", "text"),
        default=None,
        help="complete: P(candidate, then end-of-text, punctuation or a newline), so ' 1' does not also "
        "collect ' 10'..' 19' (local models); text: P(candidate's text) alone. Default: complete with "
        "--preset numbers where the model gives its whole distribution (a note says when not), else text",
    )
    p.add_argument("--top", type=int, default=20, help="rows shown (default 20; JSON has all)")
    p.add_argument(
        "--compare-model",
        metavar="MODEL",
        help="also score the same candidates on MODEL (e.g. demo-wedding against demo); "
        'JSON then holds {"runs": [first, second]}, CSV both runs\' rows',
    )
    add_csv(p, "one row per candidate: model, index, candidate, prob, logprob, text_logprob, rank")
    add_plot(p, "each candidate's probability in the candidates' order, e.g. 0..100; both models with --compare-model")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import emit, note
    from ..experiments.models import open_model as load
    from ..experiments.score import ScoreRuns, gather, score
    from .common import add_csv_output, add_plot_output, check_plot, open_model, open_session, target_node

    check_plot(args)  # before any model runs
    cands = gather(args.candidate, args.preset, args.file)
    with open_session(args) as session:
        node_id = target_node(session, args)
        models = [open_model(session, args)] + ([load(args.compare_model)] if args.compare_model else [])
        results = [
            score(session, m, node_id, cands, separator=args.sep, end=args.end, answer=args.answer, presets=args.preset)
            for m in models
        ]
    for r in results:
        for text in r.notices:
            note(f"{r.scores.model}: {text}" if len(results) > 1 else text)
    table = results[0] if len(results) == 1 else ScoreRuns(results)
    add_csv_output(args, table)
    wrote = add_plot_output(args, table.plot)
    text = "\n\n".join(score_text(r, node_id, args.top) for r in results)
    emit(args, table.to_dict(), text + wrote)
    return 0


def score_text(result, node_id: int, top_rows: int) -> str:
    """The text of one scored run: the top candidates as bars, the top choice and the entropy."""
    import math

    from .analysis_args import bar

    s = result.scores
    top, top_p = s.top
    ranked = s.ranked()
    width = max(len(repr(c)) for c, _, _ in ranked[:top_rows])
    what = "P(candidate as a complete answer)" if s.answer == "complete" else "P(candidate's text)"
    lines = [f"{len(ranked)} candidates after node {node_id} ({s.model}, separator {s.separator!r}), {what}:"]
    lines += [
        f"  {c!r:<{width}} {p:7.2%} {bar(p / ranked[0][1] if ranked[0][1] else 0)}" for c, p, _ in ranked[:top_rows]
    ]
    if len(ranked) > top_rows:
        lines.append(f"  … {len(ranked) - top_rows} more")
    lines.append(
        f"top choice {top!r} ({top_p:.1%}); entropy {s.entropy_bits:.2f} bits of at most "
        f"{math.log2(len(ranked)):.2f}; the candidates hold {s.mass:.3g} of the model's probability"
        + ("" if result.record is None else f"; stored as record {result.record}")
    )
    return "\n".join(lines)
