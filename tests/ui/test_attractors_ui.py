"""The attractor screens driven through Textual's Pilot, on a real session and the demo model."""

from textual.binding import Binding
from textual.widgets import Input, OptionList, Static

from loom.experiments.generate import edit_node, generate_children
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.attractors import ATTRACTOR_KEYS, AttractorActions, CompareScreen, FormScreen, ReportScreen, SweepScreen

PROMPT = "Once upon a time there was a fox. The fox was hungry."


# LoomApp with the mixin and its keys, whether or not the app has wired them in yet
App = (
    LoomApp
    if issubclass(LoomApp, AttractorActions)
    else type(
        "App",
        (AttractorActions, LoomApp),
        {"BINDINGS": [*LoomApp.BINDINGS, *(Binding(k.keys, k.action, k.description) for k in ATTRACTOR_KEYS)]},
    )
)


async def settle(app, pilot, screen_type):
    """The job a key started has ended and its screen is up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert app._cancel is None and isinstance(app.screen, screen_type), (screen_type.__name__, app.screen)
    return app.screen


def plain(widget: Static) -> str:
    return str(widget.render())


async def test_replay_compare_sweep_report(tmp_path, demo_backend):
    s = Session(tmp_path / "a.loom")
    root = s.add_node(None, PROMPT, "prompt")
    s.set_state("params", GenerationParams(n=1, max_tokens=5, temperature=0.0, seed=1).to_dict())
    orig = generate_children(
        s, demo_backend, root.id, GenerationParams(n=1, max_tokens=5, temperature=0.0, seed=1)
    ).nodes[0]
    same = edit_node(s, root, PROMPT)
    s.current = same.id
    app = App(s, backend=demo_backend)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.press("R")
        screen = await settle(app, pilot, CompareScreen)
        assert screen.al.status == "identical"
        rep = s.child_ids(same.id)[0]
        assert s.node(rep).text == orig.text
        assert "identical" in plain(screen.query_one("#numbers", Static))
        await pilot.press("escape")
        assert app.node_id == rep

        # mark the original continuation, compare with the replay
        app.goto(orig.id)
        await pilot.press("M")
        app.goto(rep)
        await pilot.press("C")
        screen = await settle(app, pilot, CompareScreen)
        assert (screen.comp.a, screen.comp.b) == (orig.id, rep)
        await pilot.press("w")  # words instead of tokens
        assert screen.al.level == "word"
        await pilot.press("a")  # go to A
        await pilot.pause(0.05)
        assert app.node_id == orig.id

        # a sweep of two perturbations of the root
        app.goto(root.id)
        await pilot.press("P")
        form = await settle(app, pilot, FormScreen)
        form.query_one("#f-k", Input).value = "2"
        form.query_one("#f-kinds", Input).value = "replace_word,nonsense"
        form.query_one("#f-k", Input).focus()
        await pilot.press("enter")
        assert "unknown perturbation" in plain(form.query_one("#error", Static))
        form.query_one("#f-kinds", Input).value = "replace_word,first_word"
        await pilot.press("enter")
        screen = await settle(app, pilot, SweepScreen)
        assert screen.query_one(OptionList).option_count == 2
        assert s.records("sweep")[-1]["result"]["summary"]["perturbations"] == 2
        await pilot.press("enter")  # open the first item's comparison
        await settle(app, pilot, CompareScreen)
        await pilot.press("escape")
        await pilot.press("escape")

        # a report on sampled continuations kept only in the record, then reopened
        app.goto(root.id)
        before = s.count()
        await pilot.press("A")
        form = await settle(app, pilot, FormScreen)
        form.query_one("#f-n", Input).value = "6"
        form.query_one("#f-temperatures", Input).value = "0.7,1.9"
        form.query_one("#f-n", Input).focus()
        await pilot.press("enter")
        screen = await settle(app, pilot, ReportScreen)
        assert screen.report["overall"]["n"] == 12 and s.count() == before
        groups = screen.report["overall"]["groups"]
        await pilot.press("plus")  # looser grouping never makes more groups
        assert screen.report["overall"]["groups"] <= groups and screen.report["threshold"] == 0.25
        await pilot.press("escape")
        rid = s.records("report")[-1]["id"]
        app.action_report()
        form = await settle(app, pilot, FormScreen)
        records = form.query_one("#records", OptionList)
        records.focus()
        records.highlighted = 0  # newest first
        await pilot.press("enter")
        screen = await settle(app, pilot, ReportScreen)
        assert screen.record_id == rid
