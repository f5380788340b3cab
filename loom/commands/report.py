"""`loom report`: sample N continuations, group them by ending, measure the attractor.

Also lists and reopens every stored analysis (comparisons, sweeps, reports)."""

from __future__ import annotations

from .analysis_args import add_attractor_args, attractors_from
from .common import add_csv, add_csv_output, add_generation_args, add_json, add_plot

# what `loom --help` lists: read without building the parser (see cli.build_parser)
NAME = "report"
HELP = "attractor report: sample N continuations and group them by ending"


def add_parser(sub) -> None:
    from ..analysis.intervals import BOOTSTRAP_RESAMPLES  # numpy: only when this command's parser is built

    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Sample N continuations of a node at each temperature (batched), group them by exact ending, then\n"
        "by normalised edit distance on the ending, and report group sizes (bar chart), the modal continuation,\n"
        "the entropy of the group distribution, and mean/min token probability per group and per temperature.\n"
        "Samples are kept as real branches (--keep nodes) or only inside the stored report (--keep record).\n"
        "Examples: loom report tale --node 1 -n 100 --temperatures 0.7,1.0,1.4,1.9 --keep record\n"
        "          loom report tale --existing          (group the node's existing children)\n"
        "          loom report tale --list ; loom report tale --open 3 --threshold 0.3\n"
        "          loom report tale --temperatures 0.7,1,1.4 --attractor 'wedding=/wedd|bride|marr/' --plot rates.png",
    )
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node to sample from (default: the current node)")
    p.add_argument("--temperatures", help="comma-separated temperatures to sweep, e.g. 0.7,1.0,1.4,1.9")
    p.add_argument(
        "--keep",
        choices=("nodes", "record"),
        default="record",
        help="keep samples as branches in the tree, or only in the report record (default)",
    )
    p.add_argument(
        "--existing", action="store_true", help="report on the node's existing model children; generate nothing"
    )
    p.add_argument(
        "--threshold", type=float, help="largest normalised edit distance between endings in one group (default 0.2)"
    )
    p.add_argument("--ending-words", type=int, help="words at the end that make the ending, 0 = whole text (default 8)")
    p.add_argument("--model", help="model (default: the session's, else demo)")
    p.add_argument("--list", action="store_true", help="list stored comparisons, sweeps and reports")
    p.add_argument(
        "--open",
        type=int,
        metavar="ID",
        help="show a stored record (a report is regrouped with --threshold/--ending-words)",
    )
    p.add_argument("--no-save", action="store_true", help="do not store the report")
    m = p.add_argument_group(
        "measured attractors",
        "meaning clusters, diversity and user-defined attractors, "
        "each rate with a 95%% Wilson interval, diversity with bootstrap intervals",
    )
    add_attractor_args(m)
    m.add_argument(
        "--resamples",
        type=int,
        default=BOOTSTRAP_RESAMPLES,
        help=f"bootstrap resamples for the diversity intervals, 0 = none (default {BOOTSTRAP_RESAMPLES})",
    )
    add_csv(m, "one row per sample: cluster, attractors as 0/1, mean logprob, text")
    add_plot(
        m,
        "each attractor's rate, else the biggest cluster's, against temperature with 95%% intervals; "
        "at one temperature the clusters' shares; with --open, a stored report's or sweep's",
    )
    add_generation_args(p, n_help="samples to draw (default 40)")
    add_json(p)
    p.set_defaults(func=run)


def parse_temperatures(spec: str | None) -> list[float] | None:
    from ..cli import CliError
    from ..tree import GenerationParams, ParamError

    if not spec:
        return None
    try:
        temps = [float(t) for t in spec.split(",") if t.strip()]
    except ValueError as exc:
        raise CliError(f"temperatures must be numbers separated by commas, like 0.7,1.0,1.4 (got {spec!r})") from exc
    for t in temps:
        try:
            GenerationParams(temperature=t).validate()
        except ParamError as exc:
            raise CliError(str(exc)) from exc
    return temps


def measure_options(args, session) -> dict:
    return {
        "attractors": attractors_from(args, session),
        "cluster_similarity": args.cluster_similarity,
        "cluster_words": args.cluster_words,
        "resamples": args.resamples,
    }


def describe_record(rec: dict) -> str:
    r, kind = rec["result"] or {}, rec["kind"]
    if kind == "compare":
        what = f"{rec['node_id']} vs {rec['other_id']}: {r.get('status')}"
    elif kind == "sweep":
        s = r.get("summary", {})
        what = f"node {rec['node_id']}: {s.get('reconverged')}/{s.get('perturbations')} reconverged"
    elif kind == "report":
        o = r.get("overall", {})
        what = f"node {rec['node_id']}: {o.get('n')} samples, {o.get('groups')} groups, {o.get('entropy_bits', 0):.2f} bits"
    else:
        what = f"node {rec['node_id']}"
    return f"[{rec['id']}] {kind:<8}{what}"


def format_record(rec: dict) -> str:
    from ..analysis.report import format_report
    from ..experiments.sweep import format_sweep
    from .compare import format_comparison

    kind, r = rec["kind"], rec["result"]
    if kind == "compare":
        return format_comparison(r, rec["id"])
    if kind == "sweep":
        return format_sweep(r)
    if kind == "report":
        return f"report on node {rec['node_id']} (record {rec['id']})\n" + format_report(r)
    return str(r)


def plot_record(rec: dict, path: str) -> None:
    """The figure of a stored report or sweep (--open ID --plot FILE)."""
    from ..cli import CliError
    from ..experiments.report import ReportResult
    from ..experiments.sweep import plot_sweep

    if rec["kind"] == "report":
        ReportResult.from_record(rec).plot(path)
    elif rec["kind"] == "sweep":
        plot_sweep({**rec["result"], "node": rec["node_id"]}, path)
    else:
        raise CliError(f"record {rec['id']} is a {rec['kind']}: --plot draws a stored report or sweep")


def run(args) -> int:
    from ..analysis.report import format_report
    from ..cli import CliError, emit
    from ..cli import note as cli_note
    from ..experiments.replay import ReplayError
    from ..experiments.report import ENDING_WORDS, THRESHOLD, ReportResult, report, report_existing
    from .common import add_plot_output, check_plot, open_model, open_session, resolved_params, target_node
    from .progress import progress_line

    check_plot(args)  # before anything runs
    threshold = THRESHOLD if args.threshold is None else args.threshold
    ending_words = ENDING_WORDS if args.ending_words is None else args.ending_words
    with open_session(args) as session:
        if args.list:
            recs = session.records()
            recs = [r for r in recs if r["kind"] in ("compare", "sweep", "report")]
            emit(
                args,
                [{k: r[k] for k in ("id", "kind", "node_id", "other_id", "created")} for r in recs],
                "\n".join(describe_record(r) for r in recs) or "no stored comparisons, sweeps or reports",
            )
            return 0
        if args.open is not None:
            rec = next((r for r in session.records() if r["id"] == args.open), None)
            if rec is None:
                raise CliError(f"{session.path}: no record {args.open} (see loom report --list)")
            remeasure = bool(args.attractor or args.attractor_words or args.attractor_like)
            if rec["kind"] == "report" and (args.threshold is not None or args.ending_words is not None or remeasure):
                try:
                    stored = ReportResult.from_record(rec)
                    grouping = (
                        threshold if args.threshold is not None else stored.report["threshold"],
                        ending_words if args.ending_words is not None else stored.report["ending_words"],
                    )
                    rec = {**rec, "result": stored.regroup(*grouping, **measure_options(args, session)).to_dict()}
                except ValueError as exc:
                    raise CliError(str(exc)) from exc
            if args.csv and rec["kind"] != "report":  # before any file is written
                raise CliError(
                    f"record {rec['id']} is a {rec['kind']}: --csv with --open writes a stored report's "
                    "table (a sweep writes its own when it runs: loom sweep --csv)"
                )
            if args.csv:
                add_csv_output(args, ReportResult.from_record(rec))
            wrote = add_plot_output(args, lambda path: plot_record(rec, path))
            emit(args, rec, format_record(rec) + wrote)
            return 0
        node_id = target_node(session, args)
        temps = parse_temperatures(args.temperatures)
        measure = measure_options(args, session)  # bad attractor flags fail before any sampling
        try:
            if args.existing:
                result = report_existing(
                    session, node_id, threshold=threshold, ending_words=ending_words, save=not args.no_save, **measure
                )
            else:
                params = resolved_params(session, args, experiment={"n": 40})
                backend = open_model(session, args, params=params)
                with progress_line() as progress:
                    result = report(
                        session,
                        backend,
                        node_id,
                        params,
                        temperatures=temps,
                        keep=args.keep,
                        threshold=threshold,
                        ending_words=ending_words,
                        save=not args.no_save,
                        progress=progress,
                        **measure,
                    )
        except (ReplayError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        for note in result.notices:
            cli_note(note)
        add_csv_output(args, result)
        wrote = add_plot_output(args, result.plot)
        rid = result.record
        text = f"report on node {node_id}" + (f" (record {rid})" if rid else "") + "\n" + format_report(result.report)
        emit(args, result.to_dict(), text + wrote)
    return 0
