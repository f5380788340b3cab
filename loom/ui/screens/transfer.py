"""The import and export dialogs: a file, a format, and where in the tree."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from ...io import EXPORT_FORMATS, EXPORT_SUFFIX
from .base import Dialog


class ImportScreen(Dialog[tuple[Path, bool] | None]):
    """A file to import, and whether it goes under the current node or becomes a new root."""

    BINDINGS = [Binding("ctrl+s", "save", "Import"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, has_node: bool) -> None:
        super().__init__()
        self.has_node = has_node

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Import a tree: the original loom's JSON or loom's own JSON export", style="bold"))
            yield Input(placeholder="path of a .json file", id="path")
            yield Checkbox(
                "under the current node (off: as a new root)", self.has_node, id="under", disabled=not self.has_node
            )
            yield Static("", classes="error", id="error")
            yield Static("enter or ctrl+s: import · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        raw = self.query_one(Input).value.strip()
        path = Path(raw).expanduser()
        if not raw or not path.is_file():
            self.query_one("#error", Static).update(Text(f"{raw or 'the path'}: no such file"))
            return
        self.dismiss((path, self.query_one(Checkbox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(Dialog[tuple[str, Path, bool, bool] | None]):
    """Format, file, whether to add a probability table, and whether to start from the current node."""

    BINDINGS = [Binding("ctrl+s", "save", "Export"), Binding("escape", "cancel", "Cancel")]
    HELP = {
        "markdown": "the text from the root to the current node, as Markdown",
        "text": "the text from the root to the current node, as plain text",
        "html": "the path as a web page, tokens coloured by probability, alternatives on hover",
        "ansi": "the path with terminal colours (cat or less -R it)",
        "loom-json": "loom's own JSON, lossless (loom import reads it back)",
        "socketteer": "the original loom's JSON, to go back to that loom",
        "jsonl": "one JSON line per token, with alternatives, for notebooks",
        "csv": "one row per token, alternatives in columns, for notebooks",
    }

    def __init__(self, name: str, node_id: int | None) -> None:
        super().__init__()
        self.session_name, self.node_id = name, node_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Export", style="bold"))
            yield Select(
                [(f"{f}: {self.HELP[f]}", f) for f in EXPORT_FORMATS], value="markdown", allow_blank=False, id="format"
            )
            yield Input(self._default_path("markdown"), id="path")
            with Vertical(id="options"):  # one above the other: side by side they were cut at 80 columns
                yield Checkbox("probability table (markdown, text)", False, id="probs")
                yield Checkbox(
                    "from the current node (off: the whole session)",
                    True,
                    id="from_node",
                    disabled=self.node_id is None,
                )
            yield Static("", classes="error", id="error")
            yield Static("enter or ctrl+s: export · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def _default_path(self, fmt: str) -> str:
        return str(Path.cwd() / f"{self.session_name}{EXPORT_SUFFIX[fmt]}")

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#path", Input)
        if any(path.value == self._default_path(f) for f in EXPORT_FORMATS):
            path.value = self._default_path(str(event.value))

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        path = Path(raw).expanduser()
        if not raw or not path.parent.is_dir():
            self.query_one("#error", Static).update(Text(f"{raw or 'the path'}: its folder does not exist"))
            return
        fmt = str(self.query_one("#format", Select).value)
        self.dismiss(
            (fmt, path, self.query_one("#probs", Checkbox).value, self.query_one("#from_node", Checkbox).value)
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
