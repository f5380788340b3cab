"""The library side of the app: search, bookmarks, tags and notes, import and export.

Screens here are modal and return what the user chose; `LibraryActions` is a
mixin for LoomApp that opens them and applies the result. It needs from the
app: `self.session` (the open Session), `self.node_id` (the node shown) and
`self.goto(node_id)`. `LIBRARY_KEYS` are the keys to add to the keymap.

Node and imported text is data: it is shown through `Text` objects made from
plain strings (made visible by textsafe), never through markup."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from ..io import EXPORT_FORMATS, EXPORT_SUFFIX, PATH_FORMATS, TreeFormatError, export_text, import_file
from ..io.search import search
from ..io.tags import BOOKMARK, TagError, parse_tags, set_tags, toggle_bookmark
from ..store import StoreError
from ..textsafe import one_line, visible
from .keymap import Key, key_name
from .words import plural

LIBRARY_KEYS: list[Key] = [
    Key("slash", "search", "Search the text of every node", "Library", footer=True, short="search"),
    Key("b", "bookmark", "Bookmark this node (again: remove)", "Library"),
    Key("B", "bookmarks", "List bookmarks and jump to one", "Library"),
    Key("m", "tag", "Tags and note of this node", "Library"),
    Key("i", "import", "Import a tree (original loom or loom JSON)", "Library"),
    Key("x", "export", "Export: path as Markdown/text, subtree as JSON, tokens as CSV/JSONL", "Library"),
]

CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 90%; max-width: 130; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2; }}
{name} OptionList {{ height: auto; max-height: 24; }}
{name} .error {{ color: $error; height: auto; }}
{name} .hint {{ color: $text-muted; height: auto; }}
"""


def context_text(context: str, match: tuple[int, int] | list[int]) -> Text:
    """A search hit's context with its match (offsets, not markers: the text may hold
    any character) in bold reverse, everything made visible, spacing kept."""
    start, end = match
    out = Text()
    out.append(visible(context[:start]))
    out.append(visible(context[start:end]), style="bold reverse")
    out.append(visible(context[end:]))
    return out


class SearchScreen(ModalScreen[int | None]):
    """Type to search every node's text; Enter (here or on a result) jumps to the node."""

    DEFAULT_CSS = CSS.format(name="SearchScreen")
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


class BookmarksScreen(ModalScreen[int | None]):
    """Bookmarked nodes; Enter jumps, d removes a bookmark."""

    DEFAULT_CSS = CSS.format(name="BookmarksScreen")
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("d,delete", "remove", "Remove bookmark")]

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session

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
            key = self.app.key_for("bookmark") if hasattr(self.app, "key_for") else key_name(LIBRARY_KEYS, "bookmark")
            ol.add_option(
                Option(Text(f"No bookmarks yet: press {key} on a node to bookmark it."), id="none", disabled=True)
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


class TagEditorScreen(ModalScreen[tuple[list[str], str] | None]):
    """A node's tags (comma-separated; 'bookmark' is the bookmark) and its free-form note."""

    DEFAULT_CSS = CSS.format(name="TagEditorScreen") + "TagEditorScreen TextArea { height: 8; }"
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


class ImportScreen(ModalScreen[tuple[Path, bool] | None]):
    """A file to import, and whether it goes under the current node or becomes a new root."""

    DEFAULT_CSS = CSS.format(name="ImportScreen")
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


class ExportScreen(ModalScreen[tuple[str, Path, bool, bool] | None]):
    """Format, file, whether to add a probability table, and whether to start from the current node."""

    DEFAULT_CSS = CSS.format(name="ExportScreen")
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
            with Horizontal(classes="hint"):
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


class LibraryActions:
    """Mixin for LoomApp (see the module doc for what it needs from the app)."""

    def _library_jump(self, node_id: int | None) -> None:
        if node_id is not None:
            self.goto(node_id)

    def _library_refresh(self, parent_id: int | None) -> None:
        """Show new nodes in the tree panel, where the app has one."""
        try:
            from .panels import TreePanel

            self.query_one(TreePanel).refresh_node(parent_id)
        except Exception:  # no tree panel (a test app): nothing to refresh
            pass

    def action_search(self) -> None:
        self.push_screen(SearchScreen(self.session), self._library_jump)

    def action_bookmarks(self) -> None:
        self.push_screen(BookmarksScreen(self.session), self._library_jump)

    def action_bookmark(self) -> None:
        if self.node_id is None:
            return
        try:
            on = toggle_bookmark(self.session, self.node_id)
        except StoreError as exc:
            self.notify(str(exc), title="cannot bookmark", severity="error")
            return
        self.notify(f"Node {self.node_id} {'bookmarked' if on else 'no longer bookmarked'}.", timeout=2)

    def action_tag(self) -> None:
        if self.node_id is None:
            return
        node_id = self.node_id

        def done(result: tuple[list[str], str] | None) -> None:
            if result is None:
                return
            tags, note = result
            try:
                set_tags(self.session, node_id, tags)
                self.session.set_note(node_id, note)
            except StoreError as exc:
                self.notify(str(exc), title="cannot save tags", severity="error")
                return
            self.notify(
                f"Node {node_id}: {plural(len(tags), 'tag')}" + (", note saved." if note.strip() else "."), timeout=2
            )

        node = self.session.node(node_id)
        self.push_screen(
            TagEditorScreen(node_id, self.session.tags(node_id), self.session.note(node_id), node.text), done
        )

    def action_import(self) -> None:
        def done(result: tuple[Path, bool] | None) -> None:
            if result is None:
                return
            path, under_current = result
            under = self.node_id if under_current else None
            self.notify(f"Importing {path.name}…", timeout=2)
            self.run_worker(lambda: self._library_import(path, under), thread=True, group="library")

        self.push_screen(ImportScreen(self.node_id is not None), done)

    def _library_import(self, path: Path, under: int | None) -> None:
        """In a worker thread: big trees take a while."""
        try:
            summary = import_file(self.session, path, under=under)
        except (TreeFormatError, StoreError, KeyError) as exc:
            self.call_from_thread(self.notify, str(exc), title="import failed", severity="error", timeout=10)
            return

        def finish() -> None:
            self._library_refresh(under)
            extra = f", {plural(summary['tokens'], 'token')} with probabilities" if summary.get("tokens") else ""
            self.notify(f"Imported {plural(summary['nodes'], 'node')} from {path.name}{extra}.", timeout=4)
            for note in summary.get("notes", ()):
                self.notify(note, title="import", severity="warning", timeout=8)
            root = summary.get("root") or (summary.get("roots") or [None])[0]
            self._library_jump(root)

        self.call_from_thread(finish)

    def action_export(self) -> None:
        def done(result: tuple[str, Path, bool, bool] | None) -> None:
            if result is None:
                return
            fmt, path, probs, from_node = result
            node = self.node_id if from_node else None
            if fmt in PATH_FORMATS and node is None:
                node = self.node_id  # a path always ends somewhere: the node shown
            self.run_worker(lambda: self._library_export(fmt, path, node, probs), thread=True, group="library")

        self.push_screen(ExportScreen(self.session.name, self.node_id), done)

    def _library_export(self, fmt: str, path: Path, node_id: int | None, probs: bool) -> None:
        try:
            # the coloured formats take the app's theme, as the path is shown
            text, count = export_text(self.session, fmt, node_id, probs=probs, theme=getattr(self, "loom_theme", None))
            path.write_text(text, encoding="utf-8")
        except (TreeFormatError, StoreError, KeyError) as exc:
            self.call_from_thread(self.notify, str(exc), title="export failed", severity="error", timeout=10)
            return
        except OSError as exc:
            self.call_from_thread(
                self.notify,
                f"{path}: cannot be written ({exc.strerror})",
                title="export failed",
                severity="error",
                timeout=10,
            )
            return
        what = "token" if fmt in ("jsonl", "csv") else "node"
        self.call_from_thread(self.notify, f"Wrote {plural(count, what)} as {fmt} to {path}", timeout=5)
