"""One source of truth: the app's reactive state (the session, the path to the
current node, the token cursor, the running jobs, the theme) is what every panel
draws from; a change to the state alone redraws them, with no call into a panel."""

from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.jobs import Job, JobsLine
from loom.ui.panels import ChildrenList, Legend, TokenInfo, TreePanel
from loom.ui.pathview import PathView


async def test_the_panels_draw_from_the_apps_state(tmp_path, demo_backend):
    s = Session(tmp_path / "s.loom")
    root = s.add_node(None, "Once upon a time", "prompt")
    kids = generate_children(s, demo_backend, root.id, GenerationParams(n=3, max_tokens=6, seed=7)).nodes
    s.current = root.id
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert [int(r["id"]) for r in app.query_one(ChildrenList).rows] == [k.id for k in kids]

        app.path = tuple(s.path_nodes(kids[1].id))  # the state alone
        app.cursor = len(app.path[-1].tokens) - 1
        await pilot.pause()
        assert app.node_id == kids[1].id
        assert app.query_one(PathView).nodes[-1].id == kids[1].id
        assert app.query_one(PathView).cursor == app.cursor
        assert app.query_one(TreePanel).cursor_node.data == kids[1].id
        assert app.query_one(ChildrenList).rows == []
        assert app.query_one(TokenInfo).token is app.path[-1].tokens[-1]
        assert f"node {kids[1].id}" in app.sub_title

        s.add_node(kids[1].id, "a human line", "human")
        app.refresh_nodes(kids[1].id)
        await pilot.pause()
        assert [r["preview"] for r in app.query_one(ChildrenList).rows] == ["a human line"]

        app.status_text = "state says hello"
        job = Job("report", "report on node 1", "model")
        app.running = (job,)
        dark_legend = str(app.query_one(Legend).render().spans)
        app.theme = "loom-light"
        await pilot.pause()
        assert "state says hello" in str(app.query_one("#status").render())
        assert "report on node 1" in str(app.query_one("#job-text").render())
        assert not app.query_one(JobsLine).has_class("idle")
        assert app.query_one(PathView).loom_theme.name == "loom-light"
        assert str(app.query_one(Legend).render().spans) != dark_legend  # the light palette
        app.running = ()
        await pilot.pause()
        assert app.query_one(JobsLine).has_class("idle")


def test_styles_live_in_loom_tcss_and_no_error_is_swallowed():
    """Issue 13's done-when: no CSS strings in the app's modules (only a reusable
    widget's DEFAULT_CSS), and no except that drops an error on the floor."""
    import re
    from pathlib import Path

    import loom.ui

    for f in Path(loom.ui.__file__).parent.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"^\s+CSS\s*=", text, re.M), f"{f}: styles belong in loom.tcss"
        assert not re.search(r"except[^\n]*:\s*\n\s*pass\b", text), f"{f}: an error swallowed"
