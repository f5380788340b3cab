"""Huge sessions in the app. The path view lays out only what changed when moving between nodes: the
lines it keeps from the old path must equal a full layout of the new one."""

from loom.store import Session
from loom.tree import Alternative, Token
from loom.ui.app import LoomApp
from loom.ui.pathview import PathView


def model_node(s, parent, words, model="m"):
    toks = [Token(w, -0.1 * (i % 7), 100 + i, (Alternative(w, -0.1 * (i % 7), 100 + i),)) for i, w in enumerate(words)]
    return s.add_node(parent, "".join(words), "model", model=model, tokens=toks).id


def full_layout(pv):
    pv._marks = []
    pv._layout(force=True)
    return [list(line) for line in pv._lines], pv._token_line.as_dict()


async def test_moves_keep_lines_equal_to_a_full_layout(tmp_path, demo_backend):
    s = Session(tmp_path / "s.loom")
    # long enough that every path scrolls: the scrollbar, and so the width, stays the same
    root = s.add_node(None, "A prompt that is long enough to wrap " * 60 + "\n", "prompt").id
    spine = [root]
    for depth in range(6):
        spine.append(model_node(s, spine[-1], [f" word{depth}{i}" + ("\n" if i == 9 else "") for i in range(23)]))
    siblings = [model_node(s, spine[3], [" other", " branch", " here"]), model_node(s, spine[3], ["x" * 150])]
    s.current = spine[-1]
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 30)) as pilot:
        pv = app.query_one(PathView)
        for target in [spine[5], spine[2], siblings[0], siblings[1], spine[-1], spine[4], root]:
            app.show_node(target)
            await pilot.pause()
            lines, token_line = [list(line) for line in pv._lines], pv._token_line.as_dict()
            assert (lines, token_line) == full_layout(pv), target
            assert len(pv.tokens) == sum(len(n.tokens or ()) for n in app.path)


async def test_tree_reveals_a_window_of_a_wide_level_and_loads_the_rest_on_request(session, wide_level, demo_backend):
    from loom.ui.panels import TreePanel

    root, kids = wide_level
    app = LoomApp(session, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(TreePanel)
        level = tree._items[root].children
        shown = [c.data for c in level if c.data is not None]
        w = TreePanel.WINDOW
        assert shown == kids[70 - w : 70 + w + 1]
        assert [str(c.label) for c in level if c.data is None] == [f"… {70 - w} earlier", f"… {100 - 71 - w} more"]
        tree.select_node(level[-1])  # "… more"
        await pilot.pause()
        assert [c.data for c in tree._items[root].children] == kids
        app.show_node(kids[3])  # loaded now: revealing it keeps the whole level
        await pilot.pause()
        assert [c.data for c in tree._items[root].children] == kids


async def test_a_deep_path_shows_its_last_levels_under_an_up_line(tmp_path, demo_backend):
    from loom.ui.panels import TreePanel

    s = Session(tmp_path / "s.loom")
    chain = [s.add_node(None, "root", "prompt").id]
    for i in range(60):
        chain.append(s.add_node(chain[-1], f" step {i}", "human").id)
    s.current = chain[-1]
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(TreePanel)

        def depth_of(item):
            d = 0
            while item.parent is not tree.root:
                item, d = item.parent, d + 1
            return d

        assert tree.up_line is not None and "levels above" in str(tree.up_line.label)
        deepest = tree._items[chain[-1]]
        assert depth_of(deepest) < TreePanel.LEVELS
        assert tree.cursor_node is deepest
        # walking up a few levels keeps the same panel; the up line leads further up
        top = tree.root.data
        await pilot.press("k", "k")
        assert tree.root.data == top and tree.cursor_node is tree._items[chain[-3]]
        tree.select_node(tree.up_line)
        await pilot.pause()
        assert app.node_id == top
        assert tree.cursor_node is tree._items[top]
        await pilot.press("r")
        assert app.node_id == chain[0] and tree.up_line is None and tree.root.data is None
        assert tree.cursor_node is tree._items[chain[0]]
