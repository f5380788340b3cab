"""The app driven through Textual's Pilot, on a real session file and the real demo model."""

from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.panels import ChildrenList, TokenInfo
from loom.ui.pathview import PathView


def small_params(session):
    session.set_state("params", GenerationParams(n=3, max_tokens=6, seed=7).to_dict())


async def test_generate_navigate_fork_edit_reopen(tmp_path, demo_backend, workers_done):
    path = tmp_path / "s.loom"
    s = Session(path)
    root = s.add_node(None, "Once upon a time", "prompt")
    small_params(s)
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(140, 40)) as pilot:
        assert app.node_id == root.id
        await pilot.press("g")
        await workers_done(pilot)
        kids = s.child_ids(root.id)
        assert len(kids) == 3
        assert all(s.node(k).complete for k in kids)
        # children list shows them
        assert app.query_one(ChildrenList).option_count == 3

        await pilot.press("j")  # first child
        assert app.node_id == kids[0]
        assert app.sub_title.endswith("· demo saw token ids")  # how the model got its context
        await pilot.press("l")  # next sibling
        assert app.node_id == kids[1]
        await pilot.press("h")
        assert app.node_id == kids[0]
        await pilot.press("k")
        assert app.node_id == root.id
        await pilot.press("j", "r")
        assert app.node_id == root.id
        await pilot.press("j")

        # token cursor and alternatives
        pv = app.query_one(PathView)
        assert pv.cursor == 0
        await pilot.press("full_stop")
        assert pv.cursor == 1
        info = app.query_one(TokenInfo)
        assert info.token is not None and len(info.token.alternatives) == 10
        node = s.node(kids[0])
        target = node.tokens[1].alternatives[3]
        await pilot.press("a")
        assert app.focused is info
        await pilot.press("down", "down", "down", "enter")
        forked = app.node_id
        assert forked not in kids
        f = s.node(forked)
        assert f.derived_from == node.id and f.parent_id == root.id
        assert f.tokens[1].text == target.text and f.tokens[0].text == node.tokens[0].text
        # continue at once
        await pilot.press("g")
        await workers_done(pilot)
        assert len(s.child_ids(forked)) == 3

        # edit: a new sibling, original kept
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("TextArea").text = "An edited text"
        await pilot.press("ctrl+s")
        await pilot.pause()
        edited = s.node(app.node_id)
        assert edited.text == "An edited text" and edited.author == "edit" and edited.derived_from == forked
        assert s.node(forked).text == f.text
        last = app.node_id
    s.close()

    s2 = Session(path)
    app2 = LoomApp(s2, backend=demo_backend)
    async with app2.run_test(size=(140, 40)) as pilot:
        assert app2.node_id == last
        assert s2.count() == 1 + 3 + 1 + 3 + 1
    s2.close()


async def test_settings_dialog_validates(session, hello_app):
    app = hello_app
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#f-temperature").value = "-3"
        await pilot.press("ctrl+s")
        await pilot.pause()
        err = str(app.screen.query_one("#error").render())
        assert "temperature" in err
        app.screen.query_one("#f-temperature").value = "0.5"
        app.screen.query_one("#f-n").value = "2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.params.temperature == 0.5 and app.params.n == 2
        assert session.get_state("params")["n"] == 2


async def test_settings_dialog_says_where_each_value_comes_from(tmp_path, demo_backend, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("[generation]\nmax_tokens = 33\n")
    monkeypatch.setenv("LOOM_CONFIG", str(config))
    s = Session(tmp_path / "s.loom")
    s.add_node(None, "Hello", "prompt")
    s.set_state("params", {"temperature": 0.7})
    s.set_state("model", "demo")
    from loom.config import load_config

    app = LoomApp(s, backend=demo_backend, config=load_config())
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause()

        def source(field):
            return str(app.screen.query_one(f"#src-{field}").render())

        assert source("temperature") == "session" and source("max_tokens") == "config" and source("n") == "default"
        assert source("model") == "session"
    s.close()


async def test_help_and_palette_list_every_action(hello_app):
    from loom.ui.keymap import KEYS

    app = hello_app
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        shown = str(app.screen.query_one("Static").render())
        for k in KEYS:
            assert k.description in shown
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for k in KEYS:
            if k.action != "quit":
                assert k.description in titles


async def test_config_theme_keys_and_theme_switching(tmp_path, demo_backend, workers_done):
    from loom.config import load_config
    from loom.ui.panels import Legend

    cfg = tmp_path / "config.toml"
    cfg.write_text('theme = "loom-colorblind"\n[keys]\ngenerate = "ctrl+g"\n')
    config = load_config(cfg)
    s = Session(tmp_path / "s.loom")
    root = s.add_node(None, "Once", "prompt")
    small_params(s)
    app = LoomApp(s, backend=demo_backend, config=config)
    async with app.run_test(size=(140, 40)) as pilot:
        assert app.theme == "loom-colorblind"
        help_keys = {k.action: k.keys for k in app.keys_table()}
        assert help_keys["generate"] == "ctrl+g"
        await pilot.press("g")  # no longer bound
        await pilot.pause(0.3)
        assert s.child_ids(root.id) == []
        await pilot.press("ctrl+g")
        await workers_done(pilot)
        assert len(s.child_ids(root.id)) == 3
        before = app.query_one(Legend).render().spans
        await pilot.press("ctrl+t")
        assert app.theme != "loom-colorblind" and app.loom_theme.name == app.theme
        assert app.query_one(PathView).loom_theme is app.loom_theme
        assert app.query_one(Legend).render().spans != before  # the legend follows the theme
    s.close()


async def test_click_a_token_and_switch_sessions(tmp_path, demo_backend):
    from loom.experiments.generate import generate_children

    other = Session(tmp_path / "other.loom")
    other_root = other.add_node(None, "Another story", "prompt")
    other.close()
    s = Session(tmp_path / "s.loom")
    root = s.add_node(None, "Hi", "prompt")
    kid = generate_children(s, demo_backend, root.id, GenerationParams(n=1, max_tokens=8, seed=3)).nodes[0]
    s.current = kid.id
    app = LoomApp(s, backend=demo_backend, sessions_dir=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        pv = app.query_one(PathView)
        # find where the laid-out text shows the third token, and click there
        from rich.cells import cell_len

        target = next(i for i, t in enumerate(kid.tokens) if i and t.text.strip())
        spot = None
        for y, line in enumerate(pv._lines):
            x = 0
            for piece in line:
                if piece.token == target and spot is None and piece.text.strip():
                    spot = (x, y)
                x += cell_len(piece.text)
        assert spot is not None
        await pilot.click(PathView, offset=(1 + spot[0], spot[1]))  # 1: the view's left padding
        assert pv.cursor == target
        info = app.query_one(TokenInfo)
        assert info.token.text == kid.tokens[target].text

        await pilot.press("o")
        await pilot.pause()
        picker = app.screen.query_one("#sessions")
        ids = [picker.get_option_at_index(i).id for i in range(picker.option_count)]
        assert str(tmp_path / "other.loom") in ids
        picker.highlighted = ids.index(str(tmp_path / "other.loom"))
        await pilot.press("enter")
        await pilot.pause()
        assert app.session.path == tmp_path / "other.loom"
        assert app.node_id == other_root.id
    app.session.close()


async def test_a_subclass_of_the_app_has_its_styles(session, demo_backend):
    """Textual reads a relative CSS_PATH beside the module that defines the class: a subclass
    elsewhere (bench/keys.py measures one) failed to start, 'unable to read CSS file'."""
    from loom.ui.app import LoomApp

    class Elsewhere(LoomApp):
        pass

    session.add_node(None, "Hello", "prompt")
    app = Elsewhere(session, backend=demo_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.query_one("#bottom").outer_size.height == 14  # loom.tcss: #bottom { height: 14; }
