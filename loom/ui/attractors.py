"""The attractor tools of the app: replay an edit like the original, compare two
continuations side by side, sweep perturbations, and the attractor report.

`Attractors` holds this feature's own state (the node marked for a comparison)
and opens its screens (screens/compare.py, sweep.py, report.py) for the app's
current node; the model work runs as the app's jobs, calling loom/experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .keymap import Key
from .words import plural

# The experiments and their screens are imported where a tool opens, not with the
# app: they are not needed for its first screen (docs/explanation/performance.md).
if TYPE_CHECKING:
    from ..experiments.base import Cancel, ProgressFn
    from ..experiments.compare import ReplayComparison
    from ..experiments.report import ReportResult
    from ..experiments.sweep import SweepResult
    from .app import LoomApp

#: the keys LoomApp adds to its key table for the attractor tools
ATTRACTOR_KEYS: list[Key] = [
    Key(
        "R",
        "replay",
        "Replay the edit above like the original, then compare",
        "Attractors",
        footer=True,
        short="replay",
    ),
    Key("M", "mark_compare", "Mark this node for a comparison", "Attractors"),
    Key("C", "compare", "Compare the marked node with this one (side by side)", "Attractors"),
    Key("P", "sweep", "Perturbation sweep: perturb this node k ways, replay each, count reconvergences", "Attractors"),
    Key(
        "A",
        "report",
        "Attractor report: sample N continuations, group by ending (or reopen a stored result)",
        "Attractors",
    ),
]


class Attractors:
    """Replay (R), mark for compare (M), compare with the mark (C), perturbation sweep (P), attractor report (A)."""

    def __init__(self, app: LoomApp) -> None:
        self.app = app
        self.mark: int | None = None  # the node marked for a comparison (A)

    # -- replay and compare --------------------------------------------------
    def replay(self) -> None:
        """Regenerate below the edit at (or above) this node like the original, then compare."""
        from ..experiments.compare import replay_and_compare
        from ..experiments.replay import ReplayError, edited_node, original_continuations
        from .screens.compare import CompareScreen

        app = self.app
        if not app.can_run_model():
            return
        try:
            edited = edited_node(app.session, app.node_id)
        except ReplayError as exc:
            app.notify(str(exc), title="nothing to replay", severity="warning", timeout=8)
            return
        mark = self.mark
        pick = mark if mark in {c.id for c in original_continuations(app.session, edited.derived_from)} else None
        session = app.session

        def job(progress: ProgressFn, cancel: Cancel) -> ReplayComparison:
            # with the model that wrote the original continuation, whichever model the app has open
            return replay_and_compare(session, edited.id, original_child=pick, cancel=cancel)

        def done(res: ReplayComparison) -> None:
            comp = res.comparison
            app.refresh_nodes(edited.id)
            app.goto(res.replay.id)
            app.set_status(f"replayed node {res.original_child.id} as node {res.replay.id}: {comp.alignment.status}")
            app.push_screen(
                CompareScreen(
                    comp,
                    app.loom_theme,
                    res.record,
                    f"Original continuation {res.original_child.id} (A) "
                    f"vs replay {res.replay.id} after edit {edited.id} (B)",
                ),
                app.goto,
            )

        app.start_job("replay", f"replay of edit {edited.id}", job, done)

    def mark_compare(self) -> None:
        app = self.app
        if app.node_id is None:
            return
        self.mark = app.node_id
        app.notify(f"Marked node {app.node_id}: go to another node and compare ({app.key_for('compare')}).", timeout=4)

    def compare(self) -> None:
        """Compare the marked node (A) with this one (B)."""
        from ..experiments.compare import compare_nodes, store_comparison
        from ..experiments.replay import ReplayError
        from ..store import StoreError
        from .screens.compare import CompareScreen

        app = self.app
        if app.node_id is None:
            return
        if self.mark is None:
            app.notify(
                f"Mark a node first ({app.key_for('mark_compare')}), then go to another and compare "
                f"({app.key_for('compare')}).",
                timeout=4,
            )
            return
        try:
            comp = compare_nodes(app.session, self.mark, app.node_id)
            rid = store_comparison(app.session, comp)
        except (ReplayError, KeyError, StoreError) as exc:
            app.notify(
                str(exc.args[0] if isinstance(exc, KeyError) else exc),
                title="cannot compare",
                severity="warning",
                timeout=6,
            )
            return
        app.push_screen(CompareScreen(comp, app.loom_theme, rid), app.goto)

    # -- sweep ---------------------------------------------------------------
    def sweep(self) -> None:
        """Perturb this node k ways, replay each like the original, count reconvergences."""
        from ..analysis.perturb import KINDS
        from ..experiments.sweep import sweep
        from .screens.form import FormScreen
        from .screens.sweep import SweepScreen, check_sweep

        app = self.app
        if not app.can_run_model():
            return
        node_id, session = app.node_id, app.session
        fields = [
            ("k", "how many perturbations", "6"),
            ("kinds", f"kinds, comma-separated (empty = all): {', '.join(KINDS)}", ""),
            ("phrase", "phrase for insert_phrase (empty = skip that kind)", ""),
            ("seed", "seed for the perturbations", "0"),
            ("run", "reconvergence = a shared run of at least this many units", "4"),
        ]

        def chosen(answer: dict | None) -> None:
            if not answer or "run" not in answer or not app.can_run_model():
                return
            opts = answer["run"]
            params, backend = app.params.replace(n=1), app.backend

            def job(progress: ProgressFn, cancel: Cancel) -> SweepResult:
                return sweep(
                    session,
                    backend,
                    node_id,
                    opts["k"],
                    kinds=opts["kinds"],
                    phrase=opts["phrase"],
                    seed=opts["seed"],
                    params=params,
                    run=opts["run"],
                    cancel=cancel,
                    progress=progress,
                )

            def done(result: SweepResult) -> None:
                parent = session.parent_id(node_id)
                app.refresh_nodes(parent, node_id, *[it["edited"] for it in result.items])
                s = result.summary
                app.set_status(f"sweep: {s['reconverged']}/{s['perturbations']} reconverged (record {result.record})")
                app.push_screen(SweepScreen(result.to_dict(), session, app.loom_theme, result.record), app.goto)

            app.start_job("sweep", f"sweep of node {node_id}", job, done)

        app.push_screen(FormScreen(f"Perturbation sweep of node {node_id}", fields, check_sweep), chosen)

    # -- report --------------------------------------------------------------
    def report(self) -> None:
        """Sample many continuations of this node and group them by ending; or reopen a stored result."""
        from ..experiments.replay import ReplayError
        from ..experiments.report import report, report_existing
        from .screens.form import FormScreen
        from .screens.report import check_report, record_label

        app = self.app
        if app.node_id is None:
            app.notify(f"Write a prompt first ({app.key_for('new_root')}).", timeout=3)
            return
        node_id, session = app.node_id, app.session
        fields = [
            ("n", "samples per temperature (batched; up to 200 is fine on the local model)", "50"),
            ("temperatures", "temperatures, comma-separated (empty = the current setting), e.g. 0.7,1.0,1.4,1.9", ""),
            ("threshold", "grouping: largest normalised edit distance between endings (0-1)", "0.2"),
            ("ending_words", "words at the end that make the ending (0 = the whole text)", "8"),
        ]
        boxes = [
            ("keep", "keep the samples as branches in the tree (else only in the report)", False),
            ("existing", "use this node's existing children instead of sampling", False),
        ]
        records = [
            {"id": r["id"], "label": record_label(r)}
            for r in reversed(session.records())
            if r["kind"] in ("compare", "sweep", "report")
        ][:50]

        def chosen(answer: dict | None) -> None:
            if not answer:
                return
            if "open" in answer:
                self.open_record(answer["open"])
                return
            opts = answer["run"]
            grouping = {"threshold": opts["threshold"], "ending_words": opts["ending_words"]}
            if opts["existing"]:
                try:
                    self.show_report(report_existing(session, node_id, **grouping))
                except (ReplayError, ValueError) as exc:
                    app.notify(str(exc), severity="warning", timeout=6)
                return
            if not app.can_run_model():
                return
            params, backend = app.params.replace(n=opts["n"]), app.backend

            def job(progress: ProgressFn, cancel: Cancel) -> ReportResult:
                return report(
                    session,
                    backend,
                    node_id,
                    params,
                    temperatures=opts["temperatures"],
                    keep=opts["keep"],
                    cancel=cancel,
                    progress=progress,
                    **grouping,
                )

            def done(result: ReportResult) -> None:
                for note in result.notices:
                    app.notify(note, title="note", timeout=8)
                if opts["keep"] == "nodes":
                    app.refresh_nodes(node_id)
                self.show_report(result)

            app.start_job("report", f"report on node {node_id}", job, done)

        app.push_screen(FormScreen(f"Attractor report on node {node_id}", fields, check_report, boxes, records), chosen)

    def show_report(self, result: ReportResult) -> None:
        from .screens.report import ReportScreen

        app, o = self.app, result.overall
        app.set_status(
            f"report: {plural(o['n'], 'sample')}, {plural(o['groups'], 'group')}, {o['entropy_bits']:.2f} bits "
            f"(record {result.record})"
        )
        app.push_screen(ReportScreen(result, app.loom_theme, app.session), app.goto)

    def open_record(self, record_id: int) -> None:
        """A stored report, sweep or comparison, shown again (nothing is sampled)."""
        from ..experiments import compare as compare_records
        from ..experiments.replay import ReplayError
        from ..experiments.report import ReportResult
        from .screens.compare import CompareScreen
        from .screens.report import ReportScreen
        from .screens.sweep import SweepScreen

        app = self.app
        rec = next((r for r in app.session.records() if r["id"] == record_id), None)
        if rec is None:
            return
        r = rec["result"]
        if rec["kind"] == "report":
            app.push_screen(ReportScreen(ReportResult.from_record(rec), app.loom_theme, app.session), app.goto)
        elif rec["kind"] == "sweep":
            app.push_screen(SweepScreen(r, app.session, app.loom_theme, rec["id"]), app.goto)
        elif rec["kind"] == "compare":
            try:
                comp = compare_records.from_record(app.session, rec)
            except (ReplayError, KeyError, ValueError) as exc:
                app.notify(str(exc), severity="warning", timeout=6)
                return
            app.push_screen(CompareScreen(comp, app.loom_theme, rec["id"]), app.goto)
