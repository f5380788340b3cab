"""The bookmarked nodes: jump to one, or remove its bookmark."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ...io.tags import BOOKMARK
from ...textsafe import one_line
from .base import Dialog


class BookmarksScreen(Dialog[int | None]):
    """Bookmarked nodes; Enter jumps, d removes a bookmark."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("d,delete", "remove", "Remove bookmark")]

    def __init__(self, session, bookmark_key: str = "b") -> None:
        super().__init__()
        self.session, self.bookmark_key = session, bookmark_key  # the key that bookmarks, for the empty list

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Bookmarks in {self.session.name}", style="bold"))
            yield OptionList(id="bookmarks")
            yield Static("enter: go there · d: remove the bookmark · escape: close", classes="hint")

    def on_mount(self) -> None:
        self.fill()
        self.query_one(OptionList).focus()

    def fill(self) -> None:
        ol = self.query_one(OptionList)
        keep = ol.highlighted
        ol.clear_options()
        ids = self.session.tagged(BOOKMARK)
        if not ids:
            ol.add_option(
                Option(
                    Text(f"No bookmarks yet: press {self.bookmark_key} on a node to bookmark it."),
                    id="none",
                    disabled=True,
                )
            )
            return
        for nid in ids:
            node = self.session.node(nid)
            t = Text(f"node {nid:>5} · depth {len(self.session.ancestry(nid)) - 1:>3}  ", style="dim")
            t.append(one_line(node.text, 70) or "(empty)")
            note = self.session.note(nid)
            if note:
                t.append("  — " + one_line(note, 40), style="italic")
            ol.add_option(Option(t, id=str(nid)))
        ol.highlighted = min(keep or 0, len(ids) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id != "none":
            self.dismiss(int(event.option.id))

    def action_remove(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None:
            return
        opt = ol.get_option_at_index(ol.highlighted)
        if opt.id != "none":
            self.session.remove_tag(int(opt.id), BOOKMARK)
            self.fill()

    def action_cancel(self) -> None:
        self.dismiss(None)
