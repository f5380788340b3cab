"""A node's tags and its free-form note."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static, TextArea

from ...io.tags import TagError, parse_tags
from ...textsafe import one_line
from .base import Dialog


class TagEditorScreen(Dialog[tuple[list[str], str] | None]):
    """A node's tags (comma-separated; 'bookmark' is the bookmark) and its free-form note."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, node_id: int, tags: list[str], note: str | None, preview: str = "") -> None:
        super().__init__()
        self.node_id, self.tags, self.note, self.preview = node_id, tags, note or "", preview

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Node {self.node_id}: tags and note", style="bold"))
            if self.preview:
                yield Static(Text(one_line(self.preview, 110)), classes="hint")
            yield Label("tags, separated by commas ('bookmark' bookmarks the node)")
            yield Input(", ".join(self.tags), id="tags")
            yield Label("note")
            yield TextArea(self.note, id="note", soft_wrap=True)
            yield Static("", classes="error", id="error")
            yield Static(
                "ctrl+s: save · escape: cancel (nodes are never changed; tags and notes sit beside them)",
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#tags", Input).focus()

    def on_input_submitted(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        try:
            tags = parse_tags(self.query_one("#tags", Input).value)
        except TagError as exc:
            self.query_one("#error", Static).update(Text(str(exc)))
            return
        self.dismiss((tags, self.query_one(TextArea).text))

    def action_cancel(self) -> None:
        self.dismiss(None)
