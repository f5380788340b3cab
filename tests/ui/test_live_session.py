"""Live sessions: nodes that another process adds to the open session show in the
app (children panel and tree) without moving the current node or the cursor."""

import subprocess
import sys
from pathlib import Path

from loom.store import Session
from loom.tree import Alternative, Token
from loom.ui.app import LoomApp
from loom.ui.panels import ChildrenList, TreePanel
from loom.ui.pathview import PathView


def tokens(words, ids=True, base=100):
    return [
        Token(
            w,
            -0.2,
            base + i if ids else None,
            (
                Alternative(w, -0.2, base + i if ids else None),
                Alternative(w.upper() + "!", -2.0, base + 50 + i if ids else None),
            ),
        )
        for i, w in enumerate(words)
    ]


def add(s, parent, words, ids=True, base=100):
    return s.add_node(parent, "".join(words), "model", model="m", tokens=tokens(words, ids, base)).id


def title(app) -> str:
    return str(app.query_one(ChildrenList).border_title)


def tree_label(app, node_id) -> str:
    return str(app.query_one(TreePanel)._items[node_id].label)


def make_session(tmp_path):
    path = tmp_path / "s.loom"
    s = Session(path)
    root = s.add_node(None, "Once upon a time", "prompt").id
    kid = add(s, root, [" there", " was"], ids=False)  # interned vocab: the app's session caches it
    other = add(s, root, [" a", " fox"])  # model token ids: cached too
    for i in range(4):
        add(s, kid, [f" k{i}"], ids=False)
    s.current = kid
    return path, s, root, kid, other


async def test_nodes_added_by_another_connection_show_without_moving(tmp_path, demo_backend, wait_until):
    path, s, root, kid, other = make_session(tmp_path)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert app.node_id == kid and title(app) == "children (4)"
        pv = app.query_one(PathView)
        await pilot.press("full_stop")  # move the token cursor off its default place
        cursor = pv.cursor
        tree = app.query_one(TreePanel)
        tree_cursor = tree.cursor_node
        assert [c.data for c in tree._items[root].children] == [kid, other]

        writer = Session(path)  # a second connection, as another process would have
        new = [add(writer, kid, [f" new{i}", " words", f" w{i}"], ids=False) for i in range(30)]  # new interned vocab
        new += [add(writer, kid, [f" id{i}", " more"], base=1000 + 10 * i) for i in range(6)]  # new model ids
        sib = add(writer, root, [" a", " sibling"], ids=False)
        grand = add(writer, other, [" deeper"])
        writer.close()

        await wait_until(pilot, lambda: title(app) == "children (40)", "the children panel to show 40")
        assert app.node_id == kid and s.current == kid
        assert pv.cursor == cursor
        assert app.query_one(ChildrenList).option_count == 40
        # the tree: counts on loaded lines, a new child at the end of a loaded level, cursor kept
        await wait_until(
            pilot, lambda: [c.data for c in tree._items[root].children] == [kid, other, sib], "the tree level"
        )
        assert tree_label(app, kid).endswith("(40)")
        assert tree_label(app, other).endswith("(1)")
        assert tree.cursor_node is tree_cursor
        # the new nodes decode with the vocabulary the other connection interned
        for nid, i in [(new[0], 0), (new[29], 29)]:
            assert [t.text for t in s.node(nid).tokens] == [f" new{i}", " words", f" w{i}"]
            assert [a.text for a in s.node(nid).tokens[0].alternatives] == [f" new{i}", f" NEW{i}!"]
        assert [a.token_id for a in s.node(new[-1]).tokens[1].alternatives] == [1051, 1101]
        app.show_node(grand)
        await pilot.pause()
        assert [t.text for t in app.path[-1].tokens] == [" deeper"]
    s.close()


async def test_a_subprocess_adding_nodes_while_a_dialog_is_open(tmp_path, demo_backend, wait_until):
    path, s, root, kid, other = make_session(tmp_path)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        dialog = app.screen
        assert dialog is not app.default_screen
        code = (
            "import sys; from loom.store import Session; s = Session(sys.argv[1]);"
            f" [s.add_node({kid}, f' sub{{i}}', 'human') for i in range(5)]; s.close()"
        )
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=Path(__file__).parents[2])
        await wait_until(pilot, lambda: title(app) == "children (9)", "the children panel to show 9")
        assert app.screen is dialog  # the dialog is still open, undisturbed
        assert app.node_id == kid
    s.close()


async def test_nothing_is_read_again_while_nobody_else_writes(tmp_path, demo_backend, wait_until):
    path, s, root, kid, other = make_session(tmp_path)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        calls = []

        def spy_on(name):
            orig = getattr(s, name)

            def spy(*a, **k):
                calls.append(name)
                return orig(*a, **k)

            setattr(s, name, spy)

        for name in ("summaries", "child_counts", "child_ids", "path_nodes"):
            spy_on(name)
        await pilot.pause(1.0)
        assert calls == []
        s.add_node(kid, " my own", "human")  # this connection's own write: not another process's
        await pilot.pause(1.0)
        assert calls == []
        with Session(path) as writer:
            writer.add_node(kid, " theirs", "human")
        await wait_until(pilot, lambda: "summaries" in calls, "a re-read after another connection wrote")
        await wait_until(pilot, lambda: title(app) == "children (6)", "the children panel to show 6")
        n = len(calls)
        await pilot.pause(1.0)
        assert len(calls) == n  # once per change, not on every poll
    s.close()


async def test_a_windowed_tree_level_counts_new_children_in_its_more_line(
    session, wide_level, demo_backend, wait_until
):
    root, kids = wide_level
    app = LoomApp(session, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(TreePanel)
        w = TreePanel.WINDOW

        def labels():
            return [str(c.label) for c in tree._items[root].children if c.data is None]

        assert labels() == [f"… {70 - w} earlier", f"… {100 - 71 - w} more"]
        shown = [c.data for c in tree._items[root].children if c.data is not None]
        with Session(session.path) as writer:
            for i in range(3):
                writer.add_node(root, f"late {i}", "human")
        await wait_until(pilot, lambda: labels()[-1] == f"… {100 - 71 - w + 3} more", "the more line's count")
        assert [c.data for c in tree._items[root].children if c.data is not None] == shown
        assert tree_label(app, root).endswith("(103)")
        assert app.node_id == kids[70]
        tree.select_node(tree._items[root].children[-1])  # "… more" loads the whole level, the new ones too
        await pilot.pause()
        assert len([c for c in tree._items[root].children if c.data is not None]) == 103
