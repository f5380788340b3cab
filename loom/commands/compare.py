"""`loom compare`: align two nodes' continuations and say whether they reconverged."""

from __future__ import annotations

from .common import add_json

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "compare"
HELP = "align two continuations: divergence, reconvergence, shared ending"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Align what the paths to nodes A and B say after they part in the tree (an edit and its\n"
        "original at the top are left out: the question is whether what came after reconverged),\n"
        "report where they diverge and reconverge, and store the comparison (reopen: loom report --open ID).\n"
        "Example: loom compare tale 5 9 --run 4 --json",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("a", type=int, help="first node id (e.g. the original continuation)")
    p.add_argument("b", type=int, help="second node id (e.g. the replay)")
    add_compare_args(p)
    p.add_argument("--no-save", action="store_true", help="do not store the comparison in the session")
    add_json(p)
    p.set_defaults(func=run)


def add_compare_args(p) -> None:
    p.add_argument(
        "--run",
        type=int,
        default=4,
        metavar="K",
        help="reconvergence = the first shared run of at least K units after the divergence (default 4)",
    )
    p.add_argument(
        "--level",
        choices=("auto", "token", "word"),
        default="auto",
        help="align tokens or words (auto: tokens when both sides are model-written)",
    )
    p.add_argument("--include-edit", action="store_true", help="also compare the edited node and its original")


def format_comparison(d: dict, record_id: int | None = None) -> str:
    from ..analysis.align import marked, summary_of
    from ..textsafe import visible

    lines = [f"compare {d['a']} vs {d['b']}: {summary_of(d)}"]
    if d.get("perturbation"):
        lines.append(f"(left out the perturbation itself: node {d['perturbation'][0]} vs {d['perturbation'][1]})")
    lines.append(f"last sentences: {d['last_sentences'][0]!r} | {d['last_sentences'][1]!r}")
    # model text is data: control characters are shown, never sent to the terminal
    lines += [
        "",
        f"A ({', '.join(map(str, d['a_nodes']))}): {visible(marked(d['a_text'], d['a_spans']))}",
        f"B ({', '.join(map(str, d['b_nodes']))}): {visible(marked(d['b_text'], d['b_spans']))}",
        "(\u27e6shared runs\u27e7)",
    ]
    if record_id is not None:
        lines.append(f"stored as record {record_id}")
    return "\n".join(lines)


def run(args) -> int:
    from ..cli import CliError, emit
    from ..experiments.compare import compare_nodes, store_comparison
    from ..experiments.replay import ReplayError
    from .common import open_session

    with open_session(args) as session:
        try:
            comp = compare_nodes(session, args.a, args.b, args.run, args.level, args.include_edit)
        except (ReplayError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        rid = None if args.no_save else store_comparison(session, comp, include_edit=args.include_edit)
        data = {**comp.to_dict(), "record": rid}
        emit(args, data, format_comparison(data, rid))
    return 0
