"""The library screens through Textual's Pilot, on a real session file: search and
jump, bookmarks, the tags/notes editor, import and export."""

import json

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static, TextArea

from loom.store import Session
from loom.ui.library import LIBRARY_KEYS, BookmarksScreen, LibraryActions, SearchScreen, TagEditorScreen


class Host(LibraryActions, App):
    """The smallest app the mixin asks for: session, node_id, goto."""

    BINDINGS = [Binding(k.keys, k.action, k.description) for k in LIBRARY_KEYS]

    def __init__(self, session) -> None:
        super().__init__()
        self.session, self.node_id = session, session.current

    def compose(self) -> ComposeResult:
        yield Static("host")

    def goto(self, node_id):
        self.node_id = node_id


def make(tmp_path) -> Session:
    s = Session(tmp_path / "lib.loom")
    node = s.add_node(None, "The lighthouse keeper", "prompt")
    for depth in range(12):
        node = s.add_node(node.id, f" and then step {depth}", "human")
    s.add_node(node.id, " where the \x1b[31mred\x1b[0m whale sang", "model")
    s.current = s.roots()[0].id
    return s


async def test_search_enter_jumps_to_a_deep_node(tmp_path):
    s = make(tmp_path)
    deep = s.all_ids()[-1]
    app = Host(s)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        for ch in "whale sang":
            await pilot.press("space" if ch == " " else ch)
        results = app.screen.query_one(OptionList)
        assert results.option_count == 1
        shown = results.get_option_at_index(0).prompt.plain
        assert "whale sang" in shown and "\x1b" not in shown  # escape codes are drawn, not obeyed
        await pilot.press("enter")
        assert app.node_id == deep and not isinstance(app.screen, SearchScreen)


async def test_bookmark_toggle_and_list(tmp_path):
    s = make(tmp_path)
    ids = s.all_ids()
    app = Host(s)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        assert s.tags(ids[0]) == ["bookmark"]
        app.node_id = ids[5]
        await pilot.press("b")
        await pilot.press("B")
        assert isinstance(app.screen, BookmarksScreen)
        ol = app.screen.query_one(OptionList)
        assert ol.option_count == 2
        await pilot.press("d")  # remove the first bookmark
        assert s.tagged("bookmark") == [ids[5]]
        await pilot.press("enter")
        assert app.node_id == ids[5]
        await pilot.press("b")
        assert s.tagged("bookmark") == []


async def test_tag_editor_saves_tags_and_note_and_refuses_bad_tags(tmp_path):
    s = make(tmp_path)
    nid = s.current
    app = Host(s)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        assert isinstance(app.screen, TagEditorScreen)
        app.screen.query_one("#tags", Input).value = "attractor, bookmark, attractor"
        app.screen.query_one(TextArea).text = "comes back every time"
        await pilot.press("ctrl+s")
        assert s.tags(nid) == ["attractor", "bookmark"] and s.note(nid) == "comes back every time"
        await pilot.press("m")
        app.screen.query_one("#tags", Input).value = "x" * 101
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, TagEditorScreen)  # stays open with the reason shown
        assert "at most 100 characters" in str(app.screen.query_one("#error", Static).render())
        await pilot.press("escape")
        assert s.tags(nid) == ["attractor", "bookmark"]


async def test_import_under_current_node_then_export_markdown(tmp_path):
    s = make(tmp_path)
    tree = tmp_path / "tree.json"
    tree.write_text(
        json.dumps({"root": {"id": "r", "text": " Elsewhere,", "children": [{"id": "c", "text": " a bell."}]}})
    )
    app = Host(s)
    async with app.run_test(size=(120, 40)) as pilot:
        start = app.node_id
        await pilot.press("i")
        app.screen.query_one(Input).value = str(tree)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert s.count() == 16
        assert s.node(app.node_id).text == " Elsewhere," and s.parent_id(app.node_id) == start
        leaf = s.child_ids(app.node_id)[0]
        app.node_id = leaf
        await pilot.press("x")
        out = tmp_path / "path.md"
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert out.exists() and "The lighthouse keeper Elsewhere, a bell." in out.read_text()
