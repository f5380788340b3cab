"""The attractor report's screen: a bar per group of endings, the selected group's
modal continuation and the temperature table; and the form's checks for a run."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ...analysis.report import bar
from ...experiments.report import ReportResult
from ...textsafe import one_line, visible
from ...themes import LoomTheme
from ...tree import GenerationParams
from ..figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from ..words import plural
from .base import ResultScreen
from .form import fraction, whole_number


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


class ReportScreen(ResultScreen[int | None]):
    """An attractor report: a bar per group, the selected group's modal
    continuation, and the temperature table. Returns a node id to go to."""

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
        "n": whole_number(values, "n", "samples", 1, 1000),
        "temperatures": temps,
        "keep": "nodes" if values["keep"] else "record",
        "existing": values["existing"],
        "threshold": fraction(values, "threshold", "grouping distance"),
        "ending_words": whole_number(values, "ending_words", "ending words", 0, 1000),
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
