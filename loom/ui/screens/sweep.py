"""A perturbation sweep's screen: each perturbation and whether it reconverged."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ...analysis.perturb import parse_kinds
from ...experiments.compare import compare_nodes
from ...experiments.sweep import format_sweep, plot_sweep
from ...textsafe import one_line
from ...themes import LoomTheme
from ..figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from .base import ResultScreen
from .compare import CompareScreen
from .form import whole_number


class SweepScreen(ResultScreen[int | None]):
    """A sweep's perturbations, each with whether it reconverged; enter opens
    the comparison with the original. Returns a node id to go to."""

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


def check_sweep(values: dict) -> dict:
    return {
        "k": whole_number(values, "k", "perturbations", 1, 50),
        "kinds": parse_kinds(values["kinds"]),
        "phrase": values["phrase"] or None,
        "seed": whole_number(values, "seed", "seed", 0, 2**31),
        "run": whole_number(values, "run", "run length", 1, 1000),
    }
