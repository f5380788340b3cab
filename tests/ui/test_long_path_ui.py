"""A long path opens on its end: the path view lays out (and the session decodes)
only the last nodes before the first screen, and the whole path a step at a time
after it. Once laid out, the lines are those of a full layout, the view still on
the same text, and keys work meanwhile."""

import pytest

from loom.store import Session
from loom.store.session import StoredNode
from loom.tree import Alternative, Token
from loom.ui import pathview
from loom.ui.app import LoomApp
from loom.ui.pathview import PathView

NODES = 40


def model_node(s, parent, words):
    toks = [Token(w, -0.1 * (i % 7), 100 + i, (Alternative(w, -0.1 * (i % 7), 100 + i),)) for i, w in enumerate(words)]
    return s.add_node(parent, "".join(words), "model", model="m", tokens=toks).id


@pytest.fixture
def long_path(tmp_path, monkeypatch):
    """A path of 40 nodes of 40 tokens (about 14,000 characters), long for the view (LAZY_CHARS lowered)."""
    monkeypatch.setattr(pathview, "LAZY_CHARS", 3_000)
    s = Session(tmp_path / "long.loom")
    spine = [s.add_node(None, "The beginning of a long story.\n", "prompt").id]
    for depth in range(NODES - 1):
        words = [f" w{depth}x{i}" + ("\n" if depth % 5 == 4 and i == 39 else "") for i in range(40)]
        spine.append(model_node(s, spine[-1], words))
    s.current = spine[-1]
    return s, spine


def full_layout(pv, monkeypatch):
    """The path laid out all at once, as a short path is."""
    monkeypatch.setattr(pathview, "LAZY_CHARS", 10**9)
    pv._marks = []
    pv._layout(force=True)
    return [list(line) for line in pv._lines], pv._token_line.as_dict()


def shown(pv):
    return [list(line) for line in pv._lines], pv._token_line.as_dict()


def held_steps(monkeypatch):
    """The whole path's layout steps, kept instead of scheduled: the test runs them (keys or not)."""
    steps = []
    monkeypatch.setattr(PathView, "_grow_later", lambda self, growing, delay=0: steps.append(growing))
    monkeypatch.setattr(pathview, "GROW_QUIET", 0.0)
    return steps


def cursor_row(pv):
    return pv._token_line[pv.cursor] - pv.scroll_offset.y


async def test_the_end_is_shown_first_then_the_whole_path_at_the_same_place(long_path, demo_backend, monkeypatch):
    s, spine = long_path
    steps = held_steps(monkeypatch)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pv = app.query_one(PathView)
        assert pv._head > 0 and steps  # only the last nodes are laid out
        assert pv.cursor == pv.tokens.starts[-2]  # the first token of the current node, as always
        assert pv.cursor in pv._token_line
        assert 0 <= cursor_row(pv) < pv.scrollable_content_region.height  # on screen
        # the first nodes' tokens are not decoded yet
        assert isinstance(app.path[1], StoredNode) and app.path[1]._pending is not None
        assert app.path[-1]._pending is None
        row = cursor_row(pv)
        last_line = pv._lines[-1]
        while pv._head:
            pv._grow(steps[-1])
        await pilot.pause()
        assert all(n._pending is None for n in app.path if isinstance(n, StoredNode))
        assert cursor_row(pv) == row  # the same text on screen
        assert pv._lines[-1] == last_line
        assert pv.virtual_size.height == len(pv._lines)
        assert shown(pv) == full_layout(pv, monkeypatch)


async def test_the_whole_path_is_laid_out_by_itself(long_path, demo_backend):
    s, spine = long_path
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        pv = app.query_one(PathView)
        for _ in range(200):
            await pilot.pause(0.01)
            if not pv._head:
                break
        assert not pv._head
        assert len(pv._token_line.as_dict()) == len(pv.tokens)
        assert 0 <= cursor_row(pv) < pv.scrollable_content_region.height


async def test_the_cursor_moved_above_the_end_lays_out_the_whole_path(long_path, demo_backend, monkeypatch):
    s, spine = long_path
    held_steps(monkeypatch)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pv = app.query_one(PathView)
        assert pv._head
        pv.move_cursor(0)
        await pilot.pause()
        assert not pv._head
        assert pv._token_line[0] == 1  # under the prompt
        assert 0 <= cursor_row(pv) < pv.scrollable_content_region.height
        assert shown(pv) == full_layout(pv, monkeypatch)


async def test_home_lays_out_the_whole_path_and_goes_to_its_top(long_path, demo_backend, monkeypatch):
    s, spine = long_path
    held_steps(monkeypatch)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pv = app.query_one(PathView)
        assert pv._head and pv.has_focus
        await pilot.press("home")
        await pilot.pause()
        assert not pv._head and pv.scroll_offset.y == 0
        assert pv._lines[0][0].text.startswith("The")


async def test_keys_move_while_the_path_is_laid_out(long_path, demo_backend, monkeypatch):
    s, spine = long_path
    steps = held_steps(monkeypatch)
    monkeypatch.setattr(pathview, "GROW_SECONDS", 0.0)  # a node a step
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pv = app.query_one(PathView)
        pv._grow(steps[-1])  # part of the way
        assert pv._head
        monkeypatch.setattr(pathview, "GROW_QUIET", 60.0)
        await pilot.press("k")  # to the parent: its end is shown, the layout goes on
        assert app.node_id == spine[-2]
        assert pv.cursor == pv.tokens.starts[-2] and pv.cursor in pv._token_line
        assert 0 <= cursor_row(pv) < pv.scrollable_content_region.height
        done, queued = len(pv._full_node_lines), len(steps)
        pv._grow(steps[-1])  # just after a key: the step waits
        assert len(pv._full_node_lines) == done and len(steps) == queued + 1
        monkeypatch.setattr(pathview, "GROW_QUIET", 0.0)
        while pv._head:
            pv._grow(steps[-1])
        await pilot.pause()
        assert len(pv.nodes) == NODES - 1
        assert 0 <= cursor_row(pv) < pv.scrollable_content_region.height
        assert shown(pv) == full_layout(pv, monkeypatch)
        await pilot.press("j")  # and back: the lines it keeps equal a full layout
        assert app.node_id == spine[-1]
        assert shown(pv) == full_layout(pv, monkeypatch)
