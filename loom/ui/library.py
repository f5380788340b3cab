"""The library side of the app: search, bookmarks, tags and notes, import and export.

The dialogs (screens/search.py, bookmarks.py, tags.py, transfer.py) return what
the user chose; `Library` opens them for the app's current node and applies the
result. Import and export run as the app's jobs (big trees take a while)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..experiments.base import Cancel, ProgressFn
from ..io import PATH_FORMATS, TreeFormatError, export_text, import_file
from ..io.tags import set_tags, toggle_bookmark
from ..store import StoreError
from .keymap import Key
from .words import plural

# each dialog is imported when it opens, not with the app (the tag editor's text area is slow to import)
if TYPE_CHECKING:
    from .app import LoomApp

LIBRARY_KEYS: list[Key] = [
    Key("slash", "search", "Search the text of every node", "Library", footer=True, short="search"),
    Key("b", "bookmark", "Bookmark this node (again: remove)", "Library"),
    Key("B", "bookmarks", "List bookmarks and jump to one", "Library"),
    Key("m", "tag", "Tags and note of this node", "Library"),
    Key("i", "import", "Import a tree (original loom or loom JSON)", "Library"),
    Key("x", "export", "Export: path as Markdown/text, subtree as JSON, tokens as CSV/JSONL", "Library"),
]

#: what import and export refuse with a message (anything else is a failure the job model reports)
EXPECTED = (TreeFormatError, StoreError, KeyError)


class Library:
    """Search (/), bookmarks (b, B), tags and notes (m), import (i) and export (x)."""

    def __init__(self, app: LoomApp) -> None:
        self.app = app

    def search(self) -> None:
        from .screens.search import SearchScreen

        self.app.push_screen(SearchScreen(self.app.session), self.app.goto)

    def bookmarks(self) -> None:
        from .screens.bookmarks import BookmarksScreen

        self.app.push_screen(BookmarksScreen(self.app.session, self.app.key_for("bookmark")), self.app.goto)

    def bookmark(self) -> None:
        app = self.app
        if app.node_id is None:
            return
        try:
            on = toggle_bookmark(app.session, app.node_id)
        except StoreError as exc:
            app.notify(str(exc), title="cannot bookmark", severity="error")
            return
        app.notify(f"Node {app.node_id} {'bookmarked' if on else 'no longer bookmarked'}.", timeout=2)

    def tag(self) -> None:
        from .screens.tags import TagEditorScreen

        app = self.app
        if app.node_id is None:
            return
        node_id, session = app.node_id, app.session

        def done(result: tuple[list[str], str] | None) -> None:
            if result is None:
                return
            tags, note = result
            try:
                set_tags(session, node_id, tags)
                session.set_note(node_id, note)
            except StoreError as exc:
                app.notify(str(exc), title="cannot save tags", severity="error")
                return
            app.notify(
                f"Node {node_id}: {plural(len(tags), 'tag')}" + (", note saved." if note.strip() else "."), timeout=2
            )

        node = session.node(node_id)
        app.push_screen(TagEditorScreen(node_id, session.tags(node_id), session.note(node_id), node.text), done)

    def import_tree(self) -> None:
        from .screens.transfer import ImportScreen

        app = self.app

        def chosen(result: tuple[Path, bool] | None) -> None:
            if result is None:
                return
            path, under_current = result
            under = app.node_id if under_current else None
            session = app.session

            def job(progress: ProgressFn, cancel: Cancel) -> dict[str, Any] | str:
                try:
                    return import_file(session, path, under=under)
                except EXPECTED as exc:
                    return str(exc)

            def done(summary: dict[str, Any] | str) -> None:
                if isinstance(summary, str):
                    app.notify(summary, title="import failed", severity="error", timeout=10)
                    return
                app.refresh_nodes(under)
                extra = f", {plural(summary['tokens'], 'token')} with probabilities" if summary.get("tokens") else ""
                app.notify(f"Imported {plural(summary['nodes'], 'node')} from {path.name}{extra}.", timeout=4)
                for note in summary.get("notes", ()):
                    app.notify(note, title="import", severity="warning", timeout=8)
                app.goto(summary.get("root") or (summary.get("roots") or [None])[0])

            app.start_job("import", f"import of {path.name}", job, done, lane="library")

        app.push_screen(ImportScreen(app.node_id is not None), chosen)

    def export(self) -> None:
        from .screens.transfer import ExportScreen

        app = self.app

        def chosen(result: tuple[str, Path, bool, bool] | None) -> None:
            if result is None:
                return
            fmt, path, probs, from_node = result
            node = app.node_id if from_node or fmt in PATH_FORMATS else None  # a path always ends somewhere
            session, theme = app.session, app.loom_theme  # the coloured formats take the theme the path is shown in

            def job(progress: ProgressFn, cancel: Cancel) -> str:
                try:
                    text, count = export_text(session, fmt, node, probs=probs, theme=theme)
                    path.write_text(text, encoding="utf-8")
                except EXPECTED as exc:
                    return f"export failed: {exc}"
                except OSError as exc:
                    return f"export failed: {path}: cannot be written ({exc.strerror})"
                return f"Wrote {plural(count, 'token' if fmt in ('jsonl', 'csv') else 'node')} as {fmt} to {path}"

            def done(said: str) -> None:
                failed = said.startswith("export failed: ")
                app.notify(
                    said.removeprefix("export failed: "),
                    title="export failed" if failed else "",
                    severity="error" if failed else "information",
                    timeout=10 if failed else 5,
                )

            app.start_job("export", f"export as {fmt}", job, done, lane="library")

        app.push_screen(ExportScreen(app.session.name, app.node_id), chosen)
