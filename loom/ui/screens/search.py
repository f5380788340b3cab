"""Search every node's text; the match shown by its offsets, never by markers."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ...io import TreeFormatError
from ...io.search import search
from ...textsafe import one_line, visible
from ..words import plural
from .base import Dialog


def context_text(context: str, match: tuple[int, int] | list[int]) -> Text:
    """A search hit's context with its match (offsets, not markers: the text may hold
    any character) in bold reverse, everything made visible, spacing kept."""
    start, end = match
    out = Text()
    out.append(visible(context[:start]))
    out.append(visible(context[start:end]), style="bold reverse")
    out.append(visible(context[end:]))
    return out


class SearchScreen(Dialog[int | None]):
    """Type to search every node's text; Enter (here or on a result) jumps to the node."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("down", "to_results", "Results", show=False)]

    def __init__(self, session, query: str = "") -> None:
        super().__init__()
        self.session, self.query_text = session, query

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Search {self.session.name}", style="bold"))
            yield Input(self.query_text, placeholder="words to find (matched as a phrase)", id="query")
            yield Static("", classes="hint", id="count")
            yield OptionList(id="results")
            yield Static(
                "type to search · enter or ↓: results · enter on a result: go there · escape: close", classes="hint"
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.query_text:
            self.run_search(self.query_text)

    def run_search(self, query: str) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        count = self.query_one("#count", Static)
        if not query.strip():
            count.update("")
            return
        try:
            hits = search(self.session, query, limit=200)
        except TreeFormatError as exc:
            count.update(Text(str(exc)))
            return
        count.update(Text(plural(len(hits), "node") + (" (the first 200)" if len(hits) == 200 else "")))
        for h in hits:
            t = Text(f"node {h['id']:>5} · depth {h['depth']:>3}  ", style="dim")
            t.append_text(context_text(h["context"], h["match"]))
            if h["tags"]:
                t.append("  [" + ", ".join(one_line(x, 30) for x in h["tags"]) + "]", style="italic")
            results.add_option(Option(t, id=str(h["id"])))
        if hits:
            results.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        results = self.query_one(OptionList)
        if results.option_count:
            self.dismiss(int(results.get_option_at_index(results.highlighted or 0).id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_to_results(self) -> None:
        if self.query_one(OptionList).option_count:
            self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
