"""`loom score`: the probability of each candidate continuation after a node, normalised."""

from __future__ import annotations

from .analysis_args import add_node_args
from .common import add_json


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
                   "--preset numbers, else text")
    p.add_argument("--top", type=int, default=20, help="rows shown (default 20; JSON has all)")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.candidates import CandidateError, preset, read_file
    from ..experiments.score import score_candidates
    from ..cli import CliError, emit
    from .analysis_args import bar, node_text
    from .common import open_model, open_session

    try:
        cands = [c for name in args.preset for c in preset(name)]
        cands += [c for f in args.file for c in read_file(f)]
        cands += args.candidate
        if not cands:
            raise CandidateError("no candidates: give --preset numbers, --file F or --candidate TEXT")
        with open_session(args) as session:
            node_id, text = node_text(session, args)
            backend = open_model(session, args)
            answer = args.answer or ("complete" if "numbers" in args.preset else "text")
            result = score_candidates(backend, text, cands, args.sep, args.end, answer=answer)
            if not session.readonly:
                session.add_record("candidates", node_id, {"model": backend.name, "separator": result.separator,
                                                           "end": result.end, "answer": result.answer, "count": len(result.candidates)}, result.to_dict())
    except CandidateError as exc:
        raise CliError(str(exc)) from exc
    top, top_p = result.top
    ranked = result.ranked()
    width = max(len(repr(c)) for c, _, _ in ranked[: args.top])
    what = "P(candidate as a complete answer)" if result.answer == "complete" else "P(candidate's text)"
    lines = [f"{len(ranked)} candidates after node {node_id} ({backend.name}, separator {result.separator!r}), {what}:"]
    lines += [f"  {c!r:<{width}} {p:7.2%} {bar(p / ranked[0][1] if ranked[0][1] else 0)}" for c, p, _ in ranked[: args.top]]
    if len(ranked) > args.top:
        lines.append(f"  … {len(ranked) - args.top} more")
    lines.append(f"top choice {top!r} ({top_p:.1%}); entropy {result.entropy_bits:.2f} bits of at most "
                 f"{__import__('math').log2(len(ranked)):.2f}; the candidates hold {result.mass:.3g} of the model's probability")
    emit(args, {"node": node_id, **result.to_dict()}, "\n".join(lines))
    return 0
