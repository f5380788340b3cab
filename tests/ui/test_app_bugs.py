"""The app as composed screens and widgets: bugs found at 80x24 and 160x48,
each driven through Pilot on a real session file and the real demo model."""

from textual.widgets import OptionList

from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.dialogs import EditScreen
from loom.ui.panels import ChildrenList, TreePanel
from loom.ui.pathview import PathView


def record_notes(app) -> list[str]:
    """Every message the app notifies, in order."""
    seen: list[str] = []
    original = app.notify

    def notify(message, *args, **kwargs):
        seen.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    return seen


def with_children(tmp_path, demo_backend, n=3):
    s = Session(tmp_path / "s.loom")
    root = s.add_node(None, "Once upon a time", "prompt")
    kids = generate_children(s, demo_backend, root.id, GenerationParams(n=n, max_tokens=6, seed=7)).nodes
    s.current = root.id
    return s, root, kids


def tree_node_id(app):
    node = app.query_one(TreePanel).cursor_node
    return None if node is None else node.data


async def test_compare_without_mark_names_the_mark_key_from_the_table(tmp_path, demo_backend):
    from loom.config import load_config

    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    notes = record_notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("C")
        await pilot.pause()
        assert any("Mark a node first (M)" in n for n in notes), notes
    s.close()

    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\nmark_compare = "ctrl+k"\n')
    s = Session(tmp_path / "s.loom")
    app = LoomApp(s, backend=demo_backend, config=load_config(cfg))
    notes = record_notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("C")
        await pilot.pause()
        assert any("Mark a node first (ctrl+k)" in n for n in notes), notes
    s.close()


async def test_main_keys_do_not_fire_under_a_result_screen(tmp_path, demo_backend):
    from loom.ui.attractors import CompareScreen

    s, root, kids = with_children(tmp_path, demo_backend)
    s.current = kids[0].id
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("M", "l", "C")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        at = app.node_id
        await pilot.press("n", "k", "r", "o", "s")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert len(app.screen_stack) == 2
        assert app.node_id == at
        await pilot.press("g")
        await pilot.pause(0.3)
        assert app._cancel is None and s.child_ids(at) == []
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        await pilot.press("k")  # the main screen's keys work again
        assert app.node_id == root.id
        await pilot.press("question_mark")  # a modal dialog: the same
        await pilot.pause()
        await pilot.press("g", "j")
        await pilot.pause(0.3)
        assert app._cancel is None and app.node_id == root.id and len(s.child_ids(root.id)) == 3
    s.close()


async def test_palette_still_runs_main_actions(tmp_path, demo_backend):
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        cmd = next(c for c in app.get_system_commands(app.screen) if c.title == "Go to first child")
        result = cmd.callback()
        if hasattr(result, "__await__"):
            await result
        await pilot.pause()
        assert app.node_id == kids[0].id
    s.close()


async def test_new_prompt_dialog_does_not_stack(tmp_path, demo_backend):
    s = Session(tmp_path / "empty.loom")
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert sum(isinstance(x, EditScreen) for x in app.screen_stack) == 1  # opened at start
        app.action_new_root()
        app.action_generate()  # with no node, generate opens the new-prompt dialog too
        await pilot.pause()
        assert sum(isinstance(x, EditScreen) for x in app.screen_stack) == 1
    s.close()

    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_new_root()
        app.action_new_root()
        await pilot.pause()
        assert sum(isinstance(x, EditScreen) for x in app.screen_stack) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
    s.close()


async def test_settings_focus_first_field_and_session_picker_first_down(tmp_path, demo_backend):
    other = Session(tmp_path / "other.loom")
    other.add_node(None, "Another story", "prompt")
    other.close()
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend, sessions_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "f-n"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        picker = app.screen.query_one("#sessions", OptionList)
        await pilot.press("down")
        opt = picker.get_option_at_index(picker.highlighted)
        assert opt.id != "__new__"
        assert opt.id == picker.get_option_at_index(1).id  # the first session
    s.close()


async def test_escape_in_edit_asks_before_throwing_the_edit_away(tmp_path, demo_backend):
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        count = s.count()
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen.query_one("TextArea")
        await pilot.press("x", "y")
        assert editor.text.endswith("xy")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EditScreen)  # a question, not closed
        assert any(isinstance(x, EditScreen) for x in app.screen_stack)
        await pilot.press("escape")  # keep editing
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        assert app.screen.query_one("TextArea").text.endswith("xy")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")  # discard
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert s.count() == count
        # unchanged text: escape closes at once
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
    s.close()


async def test_counts_are_singular_for_one(tmp_path, demo_backend, workers_done):
    s = Session(tmp_path / "s.loom")
    s.add_node(None, "Once upon a zebra", "prompt")
    s.set_state("params", GenerationParams(n=1, max_tokens=4, seed=7).to_dict())
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await workers_done(pilot)
        status = str(app.query_one("#status").render())
        assert "1 branch from node" in status, status
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"zebra")
        await pilot.pause()
        count = str(app.screen.query_one("#count").render())
        assert count.startswith("1 node") and "1 nodes" not in count, count
    s.close()
    from loom.ui.words import plural

    assert plural(1, "node") == "1 node" and plural(2, "node") == "2 nodes" and plural(0, "branch") == "0 branches"
    assert plural(1, "child", "children") == "1 child" and plural(3, "child", "children") == "3 children"


async def test_j_goes_to_the_first_child_as_documented(tmp_path, demo_backend):
    from loom.ui.keymap import by_action

    assert by_action()["child"].description == "Go to first child"
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(ChildrenList).highlighted = 2
        await pilot.press("j")
        assert app.node_id == kids[0].id
    s.close()


async def test_new_session_left_empty_is_removed_on_exit(tmp_path, demo_backend):
    path = tmp_path / "fresh.loom"
    s = Session(path)
    app = LoomApp(s, backend=demo_backend, created=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # no prompt written
        await pilot.pause()
    s.close()
    assert not path.exists()
    assert not path.with_name(path.name + "-wal").exists() and not path.with_name(path.name + "-shm").exists()

    # written to: kept
    path = tmp_path / "kept.loom"
    s = Session(path)
    app = LoomApp(s, backend=demo_backend, created=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("TextArea").text = "A prompt"
        await pilot.press("ctrl+s")
        await pilot.pause()
    s.close()
    assert path.exists() and Session(path).count() == 1

    # not made by the app: kept even when empty
    path = tmp_path / "made-before.loom"
    s = Session(path)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    s.close()
    assert path.exists()


async def test_new_session_from_the_picker_left_empty_is_removed(tmp_path, demo_backend):
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend, sessions_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#sessions", OptionList).highlighted = 0
        await pilot.press("enter")  # + new session
        await pilot.pause()
        new_path = app.session.path
        assert new_path != tmp_path / "s.loom" and new_path.exists()
        await pilot.press("escape")  # no prompt
        await pilot.pause()
    app.session.close()
    assert not new_path.exists()
    assert (tmp_path / "s.loom").exists()


async def test_only_loom_themes_and_the_palette_follows_any_theme_change(tmp_path, demo_backend):
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        assert set(app.available_themes) == set(app.themes)
        other = next(n for n in sorted(app.themes) if n != app.theme)
        app.theme = other  # as Textual's own theme picker does
        await pilot.pause()
        assert app.loom_theme.name == other
        assert app.query_one(PathView).loom_theme is app.themes[other]
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert sum(t.startswith("Theme: ") for t in titles) == len(app.themes)
        assert "Theme" not in titles  # Textual's picker of its own themes
    s.close()


async def test_tree_highlight_follows_the_current_node(tmp_path, demo_backend):
    s, root, kids = with_children(tmp_path, demo_backend)
    s.current = kids[1].id
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert tree_node_id(app) == kids[1].id  # at start
        # fork at the second token
        await pilot.press("full_stop", "a", "down", "down", "enter")
        await pilot.pause()
        assert app.node_id not in {k.id for k in kids}
        assert tree_node_id(app) == app.node_id
        # edit
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("TextArea").text = "Edited"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert s.node(app.node_id).text == "Edited"
        assert tree_node_id(app) == app.node_id
    s.close()


async def test_live_branches_show_only_under_the_node_they_grow_from(tmp_path, demo_backend, wait_until):
    """Press g, move to another node while it runs: that node's children panel
    must not show the other node's branches growing (issue 13, failure 1)."""
    s, root, kids = with_children(tmp_path, demo_backend, n=1)
    s.set_state("params", GenerationParams(n=6, max_tokens=480, seed=3).to_dict())  # long enough to still run below
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        await wait_until(pilot, lambda: app._live, "the branches to start growing")
        await pilot.press("j")  # to the existing child, while the root's branches grow
        await pilot.pause(0.05)
        children = app.query_one(ChildrenList)
        assert app.node_id == kids[0].id and app._cancel is not None  # still generating
        assert children.option_count == 0 and "generating" not in str(children.border_title)
        await pilot.press("k")
        await pilot.pause(0.05)
        assert app._cancel is not None, "the generation ended before the check"
        assert "generating" in str(children.border_title)
        await pilot.press("escape")
        await pilot.pause(0.3)


async def test_reopening_a_session_shows_the_current_node(tmp_path, demo_backend):
    """A session reopened on a node deep down a long path scrolls the path
    view to that node, for a model node (its first token) and a human one
    (issue 13, failure 3)."""
    s = Session(tmp_path / "long.loom")
    parent = s.add_node(None, "Once upon a time\n" * 3, "prompt").id
    for i in range(40):
        parent = s.add_node(parent, f"Part {i}.\n" + "and then\n" * 3, "edit").id
    model_node = generate_children(s, demo_backend, parent, GenerationParams(n=1, max_tokens=12, seed=1)).nodes[0]
    human = s.add_node(parent, "The very last words.", "edit")
    for node_id in (model_node.id, human.id):
        s.current = node_id
        app = LoomApp(s, backend=demo_backend)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            pv = app.query_one(PathView)
            top, height = pv.scroll_offset.y, pv.scrollable_content_region.height
            node_line = len(pv._lines) - 1 if pv.cursor is None else pv._token_line[pv.cursor]
            assert height > 0 and top <= node_line < top + height, (node_id, top, height, node_line)


async def test_switching_sessions_uses_and_shows_the_new_sessions_model(tmp_path, demo_backend, workers_done):
    """After switching sessions the model shown and the model used are the new
    session's own, and the title names the new session (issue 13, failure 4)."""
    a = Session(tmp_path / "a.loom")
    a.current = a.add_node(None, "Once upon a time", "prompt").id
    a.set_state("model", "demo")
    b = Session(tmp_path / "b.loom")
    root_b = b.add_node(None, "Are bugs real?", "prompt")
    b.current = root_b.id
    b.set_state("model", "demo-wedding")
    b.set_state("params", GenerationParams(n=1, max_tokens=4, seed=2).to_dict())
    b.close()
    app = LoomApp(a, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        app.switch_session(tmp_path / "b.loom")
        assert app.backend is None or app.backend.name == "demo-wedding"  # never the old session's model
        await workers_done(pilot)  # the model loading
        assert app.backend.name == "demo-wedding" and app.model_ref == "demo-wedding"
        assert "b" == app.session.name and app.sub_title.startswith("b ·")
        status = str(app.query_one("#status").render())
        assert "demo-wedding" in status
        await pilot.press("g")
        await workers_done(pilot)
        kids = app.session.children(root_b.id)
        assert kids and {k.model for k in kids} == {"demo-wedding"}


async def test_the_tree_panel_widens_and_narrows_from_the_keyboard(tmp_path, demo_backend):
    """The tree panel was fixed at about 33 columns (issue 13, failure 12)."""
    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        tree = app.query_one(TreePanel)
        start = tree.outer_size.width
        await pilot.press("greater_than_sign", "greater_than_sign")
        await pilot.pause()
        assert tree.outer_size.width == start + 16
        for _ in range(20):
            await pilot.press("less_than_sign")
        await pilot.pause()
        assert tree.outer_size.width == LoomApp.TREE_WIDTHS[0]


async def test_the_report_form_scrolls_to_every_field_at_80x24(tmp_path, demo_backend):
    """At 80x24 the experiment dialogs cut off their fields with no way to scroll
    (issue 13, failure 7): tabbing to the last field shows it on the screen."""
    from textual.widgets import Checkbox

    from loom.ui.attractors import FormScreen

    s, root, kids = with_children(tmp_path, demo_backend)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("A")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FormScreen)
        boxes = list(app.screen.query(Checkbox))
        for _ in range(12):
            if app.focused is boxes[-1]:
                break
            await pilot.press("tab")
            await pilot.pause(0.05)
        assert app.focused is boxes[-1]
        await pilot.pause(0.2)
        shown = boxes[-1].region
        screen = app.screen.region
        assert shown.height > 0 and screen.contains_region(shown), (shown, screen)
        assert shown.right <= screen.right
