"""`loom score`: the probability of each candidate continuation after a node, normalised."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_csv, add_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "score", help="score candidate continuations (e.g. the numbers 0-100)",
        description="Score each candidate as a whole sequence after a node's text, normalise over the\n"
        "candidates, and print the distribution, its entropy and the top choice.\n"
        "Example: loom score dice --preset numbers --top 15\n"
        "         loom score tale --candidate ' wedding' --candidate ' war' --sep ''",
    )
    add_node_args(p)
    src = p.add_argument_group("candidates (any mix)")
    src.add_argument("--preset", action="append", default=[], help="a preset list: numbers (the integers 0-100)")
    src.add_argument("--file", action="append", default=[], help="a file with one candidate per line")
    src.add_argument("--candidate", "-c", action="append", default=[], metavar="TEXT", help="one candidate (repeatable)")
    p.add_argument("--sep", default=None, help="text put between the node and each candidate (default: a space when the text does not end in whitespace)")
    p.add_argument("--end", default="", help="text put after each candidate, so that ' 5' does not also count ' 57' (e.g. '.')")
    p.add_argument("--answer", choices=("complete", "text"), default=None,
                   help="complete: P(candidate, then end-of-text, punctuation or a newline), so ' 1' does not also "
                   "collect ' 10'..' 19' (local models); text: P(candidate's text) alone. Default: complete with "
                   "--preset numbers where the model gives its whole distribution (a note says when not), else text")
    p.add_argument("--top", type=int, default=20, help="rows shown (default 20; JSON has all)")
    add_csv(p, "one row per candidate: index, candidate, prob, logprob, text_logprob, rank")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import math

    from ..cli import emit, note
    from ..experiments.score import gather, score
    from .analysis_args import bar
    from .common import add_csv_output, open_model, open_session, target_node

    cands = gather(args.candidate, args.preset, args.file)
    with open_session(args) as session:
        node_id = target_node(session, args)
        result = score(session, open_model(session, args), node_id, cands, separator=args.sep, end=args.end,
                       answer=args.answer, presets=args.preset)
    for text in result.notices:
        note(text)
    add_csv_output(args, result)
    s = result.scores
    top, top_p = s.top
    ranked = s.ranked()
    width = max(len(repr(c)) for c, _, _ in ranked[: args.top])
    what = "P(candidate as a complete answer)" if s.answer == "complete" else "P(candidate's text)"
    lines = [f"{len(ranked)} candidates after node {node_id} ({s.model}, separator {s.separator!r}), {what}:"]
    lines += [f"  {c!r:<{width}} {p:7.2%} {bar(p / ranked[0][1] if ranked[0][1] else 0)}" for c, p, _ in ranked[: args.top]]
    if len(ranked) > args.top:
        lines.append(f"  … {len(ranked) - args.top} more")
    lines.append(f"top choice {top!r} ({top_p:.1%}); entropy {s.entropy_bits:.2f} bits of at most "
                 f"{math.log2(len(ranked)):.2f}; the candidates hold {s.mass:.3g} of the model's probability"
                 + ("" if result.record is None else f"; stored as record {result.record}"))
    emit(args, result.to_dict(), "\n".join(lines))
    return 0
