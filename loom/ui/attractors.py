"""Attractors in the app: replay an edit like the original, compare two
continuations side by side, sweep perturbations, and the attractor report.

`AttractorActions` is the mixin LoomApp takes in. It uses the app's session,
node_id, backend, params, loom_theme, goto(), set_status(), refresh_children()
and its `_cancel` event (so escape cancels these jobs like a generation).
Model work runs in worker threads; results are stored as session records.

All model text goes in as rich Text built from plain strings made visible with
textsafe, with explicit styles and spans, never as markup."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Checkbox, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..analysis.align import LEVELS, Alignment, Piece, align, units
from ..analysis.perturb import KINDS, PerturbError, parse_kinds
from ..analysis.report import bar
from ..experiments import compare as compare_records
from ..experiments.base import Progress, ProgressFn
from ..experiments.compare import Comparison, ReplayComparison, compare_nodes, replay_and_compare, store_comparison
from ..experiments.replay import ReplayError, edited_node, original_continuations
from ..experiments.report import ReportResult, report, report_existing
from ..experiments.sweep import format_sweep, plot_sweep, sweep
from ..store import StoreError
from ..textsafe import one_line, visible
from ..themes import LoomTheme
from ..tree import GenerationParams, LoomError, ParamError
from .figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from .keymap import Key
from .words import plural

#: the keys LoomApp adds to its keymap for AttractorActions
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

SHARED = Style(underline=True, bold=True)
DIVERGE_MARK, RECONVERGE_MARK = "\u25c6", "\u25cf"  # ◆ ●

SCREEN_CSS = """
{name} {{ background: $background; }}
{name} .title {{ height: auto; padding: 0 1; background: $panel; }}
{name} .info {{ height: auto; padding: 0 1; background: $surface; }}
{name} .hint {{ color: $text-muted; height: auto; padding: 0 1; }}
"""


def piece_style(piece: Piece, theme: LoomTheme) -> Style:
    if piece.prob is None:
        return Style()
    b = theme.bucket(piece.prob)
    return Style(bgcolor=theme.palette[b], color=theme.foreground(b))


def compared_text(pieces: list[Piece], spans: list, theme: LoomTheme, marks: dict[int, tuple[str, Style]]) -> Text:
    """One side of a comparison: each token coloured by its probability, the
    shared runs (`spans`, character offsets in the plain text) underlined, and a
    glyph inserted before each marked offset."""
    text = Text()
    needed = {s for s, _ in spans} | {e for _, e in spans}
    vis_at: dict[int, int] = {}
    pos = 0
    for p in pieces:
        style = piece_style(p, theme)
        buf: list[str] = []
        for ch in p.text:
            if pos in marks or pos in needed:
                if buf:
                    text.append("".join(buf), style)
                    buf = []
                if pos in marks:
                    glyph, mstyle = marks[pos]
                    text.append(glyph, mstyle)
                vis_at[pos] = len(text)
            buf.append(visible(ch))
            pos += 1
        if buf:
            text.append("".join(buf), style)
    if pos in marks:
        glyph, mstyle = marks[pos]
        text.append(glyph, mstyle)
    vis_at[pos] = len(text)
    for s, e in spans:
        if s in vis_at and e in vis_at:
            text.stylize(SHARED, vis_at[s], vis_at[e])
    return text


def alignment_lines(al: Alignment) -> Text:
    """The numbers of a comparison, plain."""
    t = Text()
    status = {
        "identical": "identical: nothing diverged",
        "reconverged": "RECONVERGED",
        "diverged": "did not reconverge",
    }[al.status]
    t.append(status, Style(bold=True))
    if al.status != "identical":
        t.append(f"  · diverge at {al.level} {al.divergence}")
        if al.reconvergence:
            i, j = al.reconvergence
            t.append(
                f"  · reconverge at {i} / {j} (first shared run of \u2265{al.k}); "
                f"{al.shared_after:.0%} of A after it is shared"
            )
        else:
            t.append(f"  · no shared run of {al.k} {al.level}s after the divergence")
    t.append(
        f"\nlongest common run {al.longest_run['size']} {al.level}s · shared ending {al.shared_ending['size']} "
        f"· last sentences {al.last_sentence_similarity:.0%} similar · overall {al.similarity:.0%}"
    )
    return t


class CompareScreen(Screen[int | None]):
    """Two continuations side by side. Returns a node id to go to, or None."""

    DEFAULT_CSS = (
        SCREEN_CSS.format(name="CompareScreen")
        + """
    CompareScreen #sides { height: 1fr; }
    CompareScreen .side { width: 1fr; border: round $panel; padding: 0 1; }
    """
    )
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("plus,equals_sign", "run(1)", "Run +1"),
        Binding("minus", "run(-1)", "Run -1"),
        Binding("w", "level", "Tokens/words"),
        Binding("a", "go('a')", "Go to A"),
        Binding("b", "go('b')", "Go to B"),
    ]

    def __init__(self, comparison: Comparison, theme: LoomTheme, record_id: int | None = None, title: str = "") -> None:
        super().__init__()
        self.comp = comparison
        self.theme = theme
        self.record_id = record_id
        self.heading = title or f"Compare node {comparison.a} (A) with node {comparison.b} (B)"
        self.al = comparison.alignment
        self.level = "auto"

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="title")
        yield Static(id="numbers", classes="info")
        with Horizontal(id="sides"):
            with VerticalScroll(classes="side", id="side-a"):
                yield Static(id="text-a")
            with VerticalScroll(classes="side", id="side-b"):
                yield Static(id="text-b")
        hint = Text()
        hint.append("underlined", SHARED)
        hint.append(" = shared run · ")
        hint.append(DIVERGE_MARK, Style(bold=True, color="red"))
        hint.append(" divergence · ")
        hint.append(RECONVERGE_MARK, Style(bold=True, color="green"))
        hint.append(
            " reconvergence · token background = probability · +/- run length · w tokens/words · a/b go to node"
        )
        yield Static(hint, classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    def _marks(self, pieces: list[Piece], side: int) -> dict[int, tuple[str, Style]]:
        al = self.al
        marks: dict[int, tuple[str, Style]] = {}
        us = units(pieces, al.level)
        if al.divergence is not None:
            at = us[al.divergence].content_start if al.divergence < len(us) else sum(len(p.text) for p in pieces)
            marks[at] = (DIVERGE_MARK, Style(bold=True, color="red"))
        if al.reconvergence_char:
            marks[al.reconvergence_char[side]] = (RECONVERGE_MARK, Style(bold=True, color="green"))
        return marks

    def _show(self) -> None:
        c, al = self.comp, self.al
        title = Text(self.heading, Style(bold=True))
        if c.perturbation:
            title.append(f"  (after the perturbation: node {c.perturbation[0]} \u2192 {c.perturbation[1]})")
        if self.record_id is not None:
            title.append(f"  · record {self.record_id}")
        self.query_one("#title", Static).update(title)
        self.query_one("#numbers", Static).update(alignment_lines(al))
        for side, pieces, spans, nodes, box in (
            (0, c.a_pieces, al.a_spans, c.a_nodes, "a"),
            (1, c.b_pieces, al.b_spans, c.b_nodes, "b"),
        ):
            self.query_one(f"#text-{box}", Static).update(
                compared_text(pieces, spans, self.theme, self._marks(pieces, side))
            )
            self.query_one(
                f"#side-{box}"
            ).border_title = f"{box.upper()}: node{'s' if len(nodes) > 1 else ''} {', '.join(map(str, nodes))}"

    def _realign(self, k: int, level: str) -> None:
        try:
            self.al = align(self.comp.a_pieces, self.comp.b_pieces, k, level)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", timeout=4)
            return
        self.level = level
        self._show()

    def action_run(self, step: int) -> None:
        self._realign(max(1, self.al.k + step), self.level)

    def action_level(self) -> None:
        order = [lv for lv in LEVELS if lv != "auto"]
        nxt = order[(order.index(self.al.level) + 1) % len(order)]
        self._realign(self.al.k, nxt)

    def action_go(self, side: str) -> None:
        self.dismiss(self.comp.a if side == "a" else self.comp.b)

    def action_close(self) -> None:
        self.dismiss(None)


def group_line(g: dict, theme: LoomTheme, width: int = 30) -> Text:
    t = Text()
    t.append(f"#{g['group']:<3}{g['size']:>4} ")
    colour = theme.palette[theme.bucket(g["mean_prob"])] if g["mean_prob"] is not None else ""
    t.append(f"{bar(g['share'], width):<{width}}", Style.parse(colour) if colour else Style())
    mp = "-" if g["mean_prob"] is None else f"{g['mean_prob']:.2f}"
    mn = "-" if g["min_prob"] is None else f"{g['min_prob']:.2f}"
    t.append(f" {g['share']:>4.0%} p\u0304={mp} min={mn} \u2026{one_line(g['ending'], 200)[-48:]}")
    return t


def temperature_table(report: dict) -> Text:
    t = Text()
    if len(report["temperatures"]) < 2:
        return t
    t.append("temp     n  groups  entropy  modal  group#0  p\u0304   (does heat escape group #0?)\n", Style(bold=True))
    for row in report["temperatures"]:
        mp = "-" if row["mean_prob"] is None else f"{row['mean_prob']:.2f}"
        t.append(
            f"{row['temperature']:<5g}{row['n']:>5}{row['groups']:>8}{row['entropy_bits']:>9.2f}"
            f"{row['modal_share']:>7.0%}{row['group0_share']:>9.0%}  {mp}  {bar(row['group0_share'], 20)}\n"
        )
    return t


class ReportScreen(Screen[int | None]):
    """An attractor report: a bar per group, the selected group's modal
    continuation, and the temperature table. Returns a node id to go to."""

    DEFAULT_CSS = (
        SCREEN_CSS.format(name="ReportScreen")
        + """
    ReportScreen #groups { height: 1fr; }
    ReportScreen #detail { height: auto; max-height: 12; }
    """
    )
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("plus,equals_sign", "threshold(0.05)", "Looser"),
        Binding("minus", "threshold(-0.05)", "Stricter"),
        Binding("right_square_bracket", "ending(2)", "Longer ending"),
        Binding("left_square_bracket", "ending(-2)", "Shorter ending"),
        FIGURE_BINDING,
    ]

    def __init__(self, result: ReportResult, theme: LoomTheme, session=None) -> None:
        super().__init__()
        self.result = result
        self.report = result.report
        self.theme = theme
        self.node_id = result.node_id
        self.record_id = result.record
        self.session = session  # where figures are saved beside (None: the app's session)

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="title")
        yield OptionList(id="groups")
        yield Static(id="detail", classes="info")
        yield Static(id="temps", classes="info")
        yield Static(
            Text(
                "enter: go to the group's first sample (when kept as branches) · +/- grouping distance · "
                f"[ ] ending length · {FIGURE_KEY}: save the figure (rates against temperature)"
            ),
            classes="hint",
        )
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.query_one(OptionList).focus()

    def _show(self) -> None:
        r, o = self.report, self.report["overall"]
        title = Text(f"Attractor report on node {self.node_id}", Style(bold=True))
        if self.record_id is not None:
            title.append(f" · record {self.record_id}")
        title.append(
            f"\n{plural(o['n'], 'sample')} in {plural(o['groups'], 'group')} (ending = last {r['ending_words'] or 'all'} words, "
            f"edit distance \u2264 {r['threshold']:.2f}) · entropy {o['entropy_bits']:.2f} bits "
            f"(max {o['max_entropy_bits']:.2f}) · modal group {o['modal_share']:.0%}"
        )
        self.query_one("#title", Static).update(title)
        ol = self.query_one(OptionList)
        ol.clear_options()
        ol.add_options([Option(group_line(g, self.theme), id=str(g["group"])) for g in r["groups"]])
        if r["groups"]:
            ol.highlighted = 0
            self._detail(0)
        self.query_one("#temps", Static).update(temperature_table(r))

    def _detail(self, index: int) -> None:
        g = self.report["groups"][index]
        t = Text()
        t.append(
            f"group #{g['group']}: {plural(g['size'], 'sample')}, {plural(len(g['endings']), 'distinct ending')}; "
            f"the modal continuation ({g['modal_count']}\u00d7):\n",
            Style(bold=True),
        )
        t.append(visible(g["modal"]))
        if g["nodes"]:
            t.append(
                f"\nnode{'s' if len(g['nodes']) != 1 else ''}: {', '.join(map(str, g['nodes'][:20]))}"
                + (" \u2026" if len(g["nodes"]) > 20 else "")
            )
        self.query_one("#detail", Static).update(t)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None and event.option_index < len(self.report["groups"]):
            self._detail(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        nodes = self.report["groups"][event.option_index]["nodes"]
        if nodes:
            self.dismiss(nodes[0])
        else:
            self.notify("These samples were kept only in the report, not as branches.", timeout=3)

    def _regroup(self, threshold: float, ending_words: int) -> None:
        if not self.result.samples:
            self.notify("This report keeps no samples to regroup.", timeout=3)
            return
        self.result = self.result.regroup(threshold, ending_words)  # pure: nothing sampled or stored
        self.report = self.result.report
        self._show()

    def action_threshold(self, step: float) -> None:
        self._regroup(round(min(1.0, max(0.0, self.report["threshold"] + step)), 2), self.report["ending_words"])

    def action_ending(self, step: int) -> None:
        self._regroup(self.report["threshold"], max(0, self.report["ending_words"] + step))

    def action_save_figure(self) -> None:
        save_figure(self, self.session or self.app.session, self.result.plot, "report", self.record_id, self.node_id)

    def action_close(self) -> None:
        self.dismiss(None)


class SweepScreen(Screen[int | None]):
    """A sweep's perturbations, each with whether it reconverged; enter opens
    the comparison with the original. Returns a node id to go to."""

    DEFAULT_CSS = SCREEN_CSS.format(name="SweepScreen") + "SweepScreen #items { height: 1fr; }"
    BINDINGS = [Binding("escape,q", "close", "Close"), Binding("g", "go", "Go to the replay"), FIGURE_BINDING]

    def __init__(self, result: dict, session, theme: LoomTheme, record_id: int | None = None) -> None:
        super().__init__()
        self.result = result
        self.session = session
        self.theme = theme
        self.record_id = record_id

    def compose(self) -> ComposeResult:
        head = Text(format_sweep({**self.result, "items": [], "notices": []}), Style(bold=True))
        if self.record_id is not None:
            head.append(f" · record {self.record_id}")
        head.append(
            f"\noriginal continuation (node {self.result['original_child']}): "
            f"{one_line(self.result['original_text'], 200)}",
            Style(),
        )
        yield Static(head, classes="title")
        items = []
        for i, it in enumerate(self.result["items"]):
            t = Text()
            t.append(f"{it['status']:<12}", Style(bold=True, color="green" if it["reconverged"] else "red"))
            where = f"at {it['reconvergence'][0]}" if it.get("reconvergence") else ""
            t.append(f"{where:<7} last sentence {it.get('last_sentence_similarity', 0):.0%}  ")
            t.append(one_line(it["description"], 80), Style(italic=True))
            items.append(Option(t, id=str(i)))
        yield OptionList(*items, id="items")
        yield Static(
            Text(f"enter: compare with the original · g: go to the replay · {FIGURE_KEY}: save the figure"),
            classes="hint",
        )
        yield Footer()

    def _item(self) -> dict | None:
        ol = self.query_one(OptionList)
        return None if ol.highlighted is None else self.result["items"][ol.highlighted]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        it = self.result["items"][event.option_index]
        if it.get("replay") is None:
            return
        comp = compare_nodes(self.session, self.result["original_child"], it["replay"], self.result["run"])
        self.app.push_screen(
            CompareScreen(comp, self.theme, title=f"{it['description']}: original (A) vs replay (B)"), self._went
        )

    def _went(self, node_id: int | None) -> None:
        if node_id is not None:
            self.dismiss(node_id)

    def action_go(self) -> None:
        it = self._item()
        if it and it.get("replay") is not None:
            self.dismiss(it["replay"])

    def action_save_figure(self) -> None:
        save_figure(
            self, self.session, lambda path: plot_sweep(self.result, path), "sweep", self.record_id, self.result["node"]
        )

    def action_close(self) -> None:
        self.dismiss(None)


class FormScreen(ModalScreen[dict | None]):
    """A few labelled inputs; `check` turns their strings into values or raises
    ValueError with a message, shown under the form."""

    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen #form { width: 100%; max-width: 100; height: auto; max-height: 100%; border: round $primary;
        background: $surface; padding: 0 1; }
    FormScreen Input { margin: 0 0 1 0; }
    FormScreen #error { color: $error; height: auto; }
    FormScreen #records { height: auto; max-height: 10; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, str, str]],
        check: Callable[[dict], dict],
        checkboxes: list[tuple[str, str, bool]] = (),
        records: list[dict] | None = None,
    ) -> None:
        super().__init__()
        self.heading, self.fields, self.check = title, fields, check
        self.checkboxes, self.records = list(checkboxes), records or []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):  # scrolls where the terminal is short (80x24)
            yield Label(Text(self.heading, Style(bold=True)))
            for name, label, default in self.fields:
                yield Label(Text(label))
                yield Input(default, id=f"f-{name}")
            for name, label, value in self.checkboxes:
                yield Checkbox(Text(label), value, id=f"c-{name}")
            yield Static(id="error")
            yield Label(Text("enter: run · escape: cancel" + (" · or reopen a stored result:" if self.records else "")))
            if self.records:
                yield OptionList(*[Option(Text(r["label"]), id=str(r["id"])) for r in self.records], id="records")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#f-{self.fields[0][0]}", Input).focus()

    def on_input_submitted(self) -> None:
        values: dict[str, Any] = {name: self.query_one(f"#f-{name}", Input).value.strip() for name, _, _ in self.fields}
        values.update({name: self.query_one(f"#c-{name}", Checkbox).value for name, _, _ in self.checkboxes})
        try:
            self.dismiss({"run": self.check(values)})
        except (ValueError, ParamError, PerturbError) as exc:
            self.query_one("#error", Static).update(Text(str(exc)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss({"open": int(event.option.id)})

    def action_cancel(self) -> None:
        self.dismiss(None)


def _int(values: dict, name: str, label: str, lo: int, hi: int) -> int:
    try:
        v = int(values[name])
    except ValueError:
        raise ValueError(f"{label} must be a whole number (got {values[name]!r})") from None
    if not lo <= v <= hi:
        raise ValueError(f"{label} must be from {lo} to {hi} (got {v})")
    return v


def _float(values: dict, name: str, label: str) -> float:
    try:
        v = float(values[name])
    except ValueError:
        raise ValueError(f"{label} must be a number (got {values[name]!r})") from None
    if not 0 <= v <= 1:
        raise ValueError(f"{label} must be from 0 to 1 (got {v})")
    return v


def check_sweep(values: dict) -> dict:
    return {
        "k": _int(values, "k", "perturbations", 1, 50),
        "kinds": parse_kinds(values["kinds"]),
        "phrase": values["phrase"] or None,
        "seed": _int(values, "seed", "seed", 0, 2**31),
        "run": _int(values, "run", "run length", 1, 1000),
    }


def check_report(values: dict) -> dict:
    temps = None
    if values["temperatures"]:
        try:
            temps = [float(t) for t in values["temperatures"].split(",") if t.strip()]
        except ValueError:
            raise ValueError(
                f"temperatures must be numbers separated by commas (got {values['temperatures']!r})"
            ) from None
        for t in temps:
            GenerationParams(temperature=t).validate()
    return {
        "n": _int(values, "n", "samples", 1, 1000),
        "temperatures": temps,
        "keep": "nodes" if values["keep"] else "record",
        "existing": values["existing"],
        "threshold": _float(values, "threshold", "grouping distance"),
        "ending_words": _int(values, "ending_words", "ending words", 0, 1000),
    }


def record_label(rec: dict) -> str:
    r = rec["result"] or {}
    if rec["kind"] == "compare":
        what = f"{rec['node_id']} vs {rec['other_id']}: {r.get('status')}"
    elif rec["kind"] == "sweep":
        s = r.get("summary", {})
        what = f"node {rec['node_id']}: {s.get('reconverged')}/{s.get('perturbations')} reconverged"
    else:
        o = r.get("overall", {})
        what = f"node {rec['node_id']}: {plural(o.get('n') or 0, 'sample')}, {plural(o.get('groups') or 0, 'group')}, {o.get('entropy_bits', 0):.2f} bits"
    return f"[{rec['id']}] {rec['kind']} {what}"


class AttractorActions:
    """Actions for LoomApp: replay (R), mark for compare (M), compare with the
    mark (C), perturbation sweep (P), attractor report (A)."""

    _att_mark: int | None = None

    # -- plumbing ------------------------------------------------------------
    def _att_can_run(self) -> bool:
        if self.node_id is None:
            self.notify(f"Write a prompt first ({self.key_for('new_root')}).", timeout=3)
            return False
        if self._cancel is not None:
            self.notify(f"Already working: {self.key_for('cancel')} cancels.", timeout=2)
            return False
        if self.backend is None:
            self.notify("The model is still loading (or failed to load: see the status line).", timeout=3)
            return False
        return True

    def _att_run(self, job: Callable[[threading.Event], Any], done: Callable[[Any], None], what: str) -> None:
        """Run `job(cancel)` in a worker thread, then `done(result)` on the app's thread."""
        cancel = self._cancel = threading.Event()
        self.set_status(f"{what}\u2026 (escape cancels)")

        def work() -> None:
            try:
                result = job(cancel)
            except (LoomError, ValueError) as exc:
                self.call_from_thread(self._att_failed, what, str(exc))
            except Exception as exc:  # keep the app alive; what was made is already saved
                self.call_from_thread(self._att_failed, what, f"{type(exc).__name__}: {exc}")
            else:
                self.call_from_thread(self._att_finish, done, result)

        self.run_worker(work, thread=True, group="attractors")

    def _att_finish(self, done: Callable[[Any], None], result: Any) -> None:
        self._cancel = None
        done(result)

    def _att_failed(self, what: str, message: str) -> None:
        self._cancel = None
        self.set_status(f"{what} failed: {message}")
        self.notify(message, title=f"{what} failed", severity="error", timeout=12)

    def _att_refresh(self, *parents: int | None) -> None:
        from .panels import TreePanel

        for p in parents:
            self.query_one(TreePanel).refresh_node(p)
        self.refresh_children()

    def _att_goto(self, node_id: int | None) -> None:
        if node_id is not None:
            self.goto(node_id)

    def _att_progress(self, what: str) -> ProgressFn:
        """Progress of a running experiment on the status line, with the time left."""

        def show(p: Progress) -> None:
            self.call_from_thread(self.set_status, f"{what}\u2026 {p.describe()} (escape cancels)")

        return show

    # -- replay and compare --------------------------------------------------
    def action_replay(self) -> None:
        """Regenerate below the edit at (or above) this node like the original, then compare."""
        if not self._att_can_run():
            return
        try:
            edited = edited_node(self.session, self.node_id)
        except ReplayError as exc:
            self.notify(str(exc), title="nothing to replay", severity="warning", timeout=8)
            return
        mark = self._att_mark
        pick = mark if mark in {c.id for c in original_continuations(self.session, edited.derived_from)} else None

        def job(cancel: threading.Event) -> ReplayComparison:
            # with the model that wrote the original continuation, whichever model the app has open
            return replay_and_compare(self.session, edited.id, original_child=pick, cancel=cancel)

        def done(res: ReplayComparison) -> None:
            comp = res.comparison
            self._att_refresh(edited.id)
            self.goto(res.replay.id)
            self.set_status(f"replayed node {res.original_child.id} as node {res.replay.id}: {comp.alignment.status}")
            self.push_screen(
                CompareScreen(
                    comp,
                    self.loom_theme,
                    res.record,
                    f"Original continuation {res.original_child.id} (A) "
                    f"vs replay {res.replay.id} after edit {edited.id} (B)",
                ),
                self._att_goto,
            )

        self._att_run(job, done, "replay")

    def action_mark_compare(self) -> None:
        if self.node_id is None:
            return
        self._att_mark = self.node_id
        self.notify(
            f"Marked node {self.node_id}: go to another node and compare ({self.key_for('compare')}).", timeout=4
        )

    def action_compare(self) -> None:
        """Compare the marked node (A) with this one (B)."""
        if self.node_id is None:
            return
        if self._att_mark is None:
            self.notify(
                f"Mark a node first ({self.key_for('mark_compare')}), then go to another and compare "
                f"({self.key_for('compare')}).",
                timeout=4,
            )
            return
        try:
            comp = compare_nodes(self.session, self._att_mark, self.node_id)
            rid = store_comparison(self.session, comp)
        except (ReplayError, KeyError, StoreError) as exc:
            self.notify(
                str(exc.args[0] if isinstance(exc, KeyError) else exc),
                title="cannot compare",
                severity="warning",
                timeout=6,
            )
            return
        self.push_screen(CompareScreen(comp, self.loom_theme, rid), self._att_goto)

    # -- sweep ---------------------------------------------------------------
    def action_sweep(self) -> None:
        """Perturb this node k ways, replay each like the original, count reconvergences."""
        if not self._att_can_run():
            return
        node_id = self.node_id
        fields = [
            ("k", "how many perturbations", "6"),
            ("kinds", f"kinds, comma-separated (empty = all): {', '.join(KINDS)}", ""),
            ("phrase", "phrase for insert_phrase (empty = skip that kind)", ""),
            ("seed", "seed for the perturbations", "0"),
            ("run", "reconvergence = a shared run of at least this many units", "4"),
        ]

        def chosen(answer: dict | None) -> None:
            if not answer or "run" not in answer:
                return
            opts = answer["run"]
            params = self.params.replace(n=1)

            def job(cancel: threading.Event):
                return sweep(
                    self.session,
                    self.backend,
                    node_id,
                    opts["k"],
                    kinds=opts["kinds"],
                    phrase=opts["phrase"],
                    seed=opts["seed"],
                    params=params,
                    run=opts["run"],
                    cancel=cancel,
                    progress=self._att_progress("sweep"),
                )

            def done(result) -> None:
                parent = self.session.parent_id(node_id)
                self._att_refresh(parent, node_id, *[it["edited"] for it in result.items])
                s = result.summary
                self.set_status(f"sweep: {s['reconverged']}/{s['perturbations']} reconverged (record {result.record})")
                self.push_screen(
                    SweepScreen(result.to_dict(), self.session, self.loom_theme, result.record), self._att_goto
                )

            self._att_run(job, done, "sweep")

        self.push_screen(FormScreen(f"Perturbation sweep of node {node_id}", fields, check_sweep), chosen)

    # -- report --------------------------------------------------------------
    def action_report(self) -> None:
        """Sample many continuations of this node and group them by ending; or reopen a stored result."""
        if self.node_id is None:
            self.notify(f"Write a prompt first ({self.key_for('new_root')}).", timeout=3)
            return
        node_id = self.node_id
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
            for r in reversed(self.session.records())
            if r["kind"] in ("compare", "sweep", "report")
        ][:50]

        def chosen(answer: dict | None) -> None:
            if not answer:
                return
            if "open" in answer:
                self._att_open_record(answer["open"])
                return
            opts = answer["run"]
            grouping = {"threshold": opts["threshold"], "ending_words": opts["ending_words"]}
            if opts["existing"]:
                try:
                    self._att_show_report(report_existing(self.session, node_id, **grouping))
                except (ReplayError, ValueError) as exc:
                    self.notify(str(exc), severity="warning", timeout=6)
                return
            if not self._att_can_run():
                return
            params = self.params.replace(n=opts["n"])

            def job(cancel: threading.Event) -> ReportResult:
                return report(
                    self.session,
                    self.backend,
                    node_id,
                    params,
                    temperatures=opts["temperatures"],
                    keep=opts["keep"],
                    cancel=cancel,
                    progress=self._att_progress("report"),
                    **grouping,
                )

            def done(result: ReportResult) -> None:
                for note in result.notices:
                    self.notify(note, title="note", timeout=8)
                if opts["keep"] == "nodes":
                    self._att_refresh(node_id)
                self._att_show_report(result)

            self._att_run(job, done, "report")

        self.push_screen(
            FormScreen(f"Attractor report on node {node_id}", fields, check_report, boxes, records), chosen
        )

    def _att_show_report(self, result: ReportResult) -> None:
        o = result.overall
        self.set_status(
            f"report: {plural(o['n'], 'sample')}, {plural(o['groups'], 'group')}, {o['entropy_bits']:.2f} bits "
            f"(record {result.record})"
        )
        self.push_screen(ReportScreen(result, self.loom_theme, self.session), self._att_goto)

    def _att_open_record(self, record_id: int) -> None:
        rec = next((r for r in self.session.records() if r["id"] == record_id), None)
        if rec is None:
            return
        r = rec["result"]
        if rec["kind"] == "report":
            self.push_screen(ReportScreen(ReportResult.from_record(rec), self.loom_theme, self.session), self._att_goto)
        elif rec["kind"] == "sweep":
            self.push_screen(SweepScreen(r, self.session, self.loom_theme, rec["id"]), self._att_goto)
        elif rec["kind"] == "compare":
            try:
                comp = compare_records.from_record(self.session, rec)
            except (ReplayError, KeyError, ValueError) as exc:
                self.notify(str(exc), severity="warning", timeout=6)
                return
            self.push_screen(CompareScreen(comp, self.loom_theme, rec["id"]), self._att_goto)
