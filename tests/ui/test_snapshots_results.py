"""What a user sees of each result screen and each dialog, as committed SVG snapshots
(pytest-textual-snapshot) at 80x24 and 160x48: the results of real runs on the
bundled models with fixed seeds, made once for the module, then shown the way
the app shows them. (The main screen and the first dialogs are in test_snapshots.py;
the session picker names a temporary folder and has Pilot tests instead.)

After a deliberate change: `python -m pytest tests/test_snapshots_results.py --snapshot-update`,
then look at the new SVGs before committing them."""

import pytest
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from loom.analysis.attractors import parse_regex
from loom.experiments.collapse import collapse
from loom.experiments.compare import compare_nodes, store_comparison
from loom.experiments.generate import edit_node, generate_children
from loom.experiments.models import open_model
from loom.experiments.report import report
from loom.experiments.score import score
from loom.experiments.sweep import sweep
from loom.experiments.vs import compare_models
from loom.io.tags import set_tags
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.dialogs import QuitScreen
from loom.ui.screens.candidates import CandidatesScreen
from loom.ui.screens.collapse import CollapseScreen
from loom.ui.screens.compare import CompareScreen
from loom.ui.screens.distribution import DistributionScreen
from loom.ui.screens.forks import ForksScreen
from loom.ui.screens.multiverse import MultiverseExportScreen, MultiverseScreen
from loom.ui.screens.report import ReportScreen
from loom.ui.screens.sweep import SweepScreen
from loom.ui.screens.vs import VersusScreen

SIZES = [(80, 24), (160, 48)]
SIZE_IDS = ["80x24", "160x48"]
PROMPT = "The miller's youngest son walked along the road to the town"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, demo_backend):
    """One session with a small real run of each experiment (fixed seeds)."""
    wedding = open_model("demo-wedding")
    s = Session(tmp_path_factory.mktemp("results") / "tale.loom")
    s.set_state("model", "demo")
    root = s.add_node(None, PROMPT, "prompt").id
    kids = generate_children(s, demo_backend, root, GenerationParams(n=3, max_tokens=16, seed=11)).nodes
    set_tags(s, kids[0].id, ["bookmark", "road"])
    s.set_note(kids[0].id, "the first branch")
    out = {"path": s.path, "root": root, "child": kids[0].id, "wedding": wedding}
    same = edit_node(s, s.node(root), PROMPT + ".")
    replay = generate_children(s, demo_backend, same.id, GenerationParams(n=1, max_tokens=16, seed=11)).nodes[0]
    out["compare"] = compare_nodes(s, kids[0].id, replay.id)
    store_comparison(s, out["compare"])
    out["report"] = report(
        s,
        wedding,
        root,
        GenerationParams(n=6, max_tokens=10, seed=3),
        temperatures=[0.7, 1.4],
        attractors=[parse_regex("wedding=/wedd|bride|marr/")],
        resamples=20,
    )
    out["sweep"] = sweep(
        s,
        demo_backend,
        kids[0].id,
        2,
        kinds=["replace_word", "first_word"],
        params=GenerationParams(max_tokens=8, seed=2),
    )
    out["score"] = score(s, demo_backend, root, ["seven", "the", "a horse"], presets=["numbers"])
    out["vs"] = compare_models(
        s, [demo_backend, wedding], root, GenerationParams(n=2, max_tokens=8, seed=1), views=True
    )
    out["collapse"] = collapse(s, wedding, demo_backend, kids[0].id)
    s.current = kids[0].id
    s.close()
    return out


@pytest.fixture
def app(lab, demo_backend):
    s = Session(lab["path"])
    s.current = lab["child"]
    return LoomApp(s, backend=demo_backend)


async def settle(pilot) -> None:
    for field in pilot.app.screen.query("Input, TextArea"):
        field.cursor_blink = False  # a blinking cursor would be caught on or off by chance
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def until(pilot, ready, what: str) -> None:
    for _ in range(1200):
        await pilot.pause(0.05)
        if ready():
            await settle(pilot)
            return
    raise AssertionError(f"timed out waiting for {what}")


def showing(make, ready=None):
    """run_before: push the screen `make(app, lab)` builds, wait until `ready(screen)`."""

    def setup(lab):
        async def run(pilot) -> None:
            await settle(pilot)
            screen = make(pilot.app, lab)
            await pilot.app.push_screen(screen)
            if ready is not None:
                await until(pilot, lambda: ready(screen), type(screen).__name__)
            await settle(pilot)

        return run

    return setup


def shown_result(screen_type, key: str):
    """A screen that runs on demand (vs, collapse, candidates), shown with the module's stored run."""

    def make(app, lab):
        screen = screen_type(app, lab)
        screen.call_after_refresh(screen._show, lab[key])
        return screen

    return make


RESULTS = {
    "report": showing(lambda app, lab: ReportScreen(lab["report"], app.loom_theme, app.session)),
    "sweep": showing(
        lambda app, lab: SweepScreen(lab["sweep"].to_dict(), app.session, app.loom_theme, lab["sweep"].record)
    ),
    "compare": showing(lambda app, lab: CompareScreen(lab["compare"], app.loom_theme, lab["compare"].record)),
    "multiverse": showing(
        lambda app, lab: MultiverseScreen(app.session, lab["root"], app.backend, app.loom_theme, depth=3, k=3),
        lambda screen: screen.view is not None and screen.job is None,
    ),
    "vs": showing(
        shown_result(
            lambda app, lab: VersusScreen(
                app.session, lab["root"], ("demo", "demo-wedding"), GenerationParams(n=2, max_tokens=8), app.loom_theme
            ),
            "vs",
        ),
        lambda screen: screen.result is not None,
    ),
    "collapse": showing(
        shown_result(lambda app, lab: CollapseScreen(app.session, lab["child"], ("demo-wedding", "demo")), "collapse"),
        lambda screen: screen.result is not None,
    ),
    "forks": showing(
        lambda app, lab: ForksScreen(
            app.session,
            app.backend,  # the model that wrote the path
            lab["child"],
            GenerationParams(n=2, max_tokens=6, seed=1),
            {"attractor": parse_regex("wedding=/wedd|bride|marr/"), "alternatives": 1, "stride": 4, "save": False},
        ),
        lambda screen: screen.result is not None,
    ),
    "distribution": showing(
        lambda app, lab: DistributionScreen(app.session, app.backend, lab["child"], None, app.loom_theme, k=10),
        lambda screen: screen.job is None and "entropy" in str(screen.query_one("#chart").render()),
    ),
    "score": showing(
        shown_result(lambda app, lab: CandidatesScreen(app.session, app.backend, lab["root"], app.loom_theme), "score"),
        lambda screen: screen.scored is not None,
    ),
}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("name", list(RESULTS))
def test_result_screens(snap_compare, app, lab, size, name):
    assert snap_compare(app, terminal_size=size, run_before=RESULTS[name](lab))


def keys(*pressed, then=None):
    """run_before: press keys on the main screen, then `then(app)` (fill in a field...)."""

    def setup(lab):
        async def run(pilot) -> None:
            await settle(pilot)
            await pilot.press(*pressed)
            await settle(pilot)
            if then is not None:
                then(pilot.app)
                await settle(pilot)

        return run

    return setup


def typed(selector: str, value: str):
    """Put `value` in a field (a path the dialog would show as this machine's folder)."""

    def fill(app) -> None:
        widget = app.screen.query_one(selector)
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            widget.value = value

    return fill


DIALOGS = {
    "search": keys("slash", "r", "o", "a", "d"),
    "bookmarks": keys("B"),
    "tags": keys("m"),
    "import": keys("i"),
    "export": keys("x", then=typed("#path", "tale.md")),
    "sweep-form": keys("P"),
    "report-form": keys("A"),
    "forks-form": keys("F"),
    "discard": keys("e", "a", "escape"),
    "multiverse-export": showing(lambda app, lab: MultiverseExportScreen("tale.svg")),
    "quit": showing(lambda app, lab: QuitScreen(["report on node 1: 20/50 samples, 40 s left"])),
}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("name", list(DIALOGS))
def test_more_dialogs(snap_compare, app, lab, size, name):
    assert snap_compare(app, terminal_size=size, run_before=DIALOGS[name](lab))


async def test_the_export_dialog_starts_from_the_working_folder(app, lab):
    """(the snapshot above types its own path over the default, which names this machine's folder)"""
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("x")
        assert app.screen.query_one("#path", Input).value.endswith("tale.md")


def cut_off(screen) -> list[str]:
    """What a screen cuts off with no way to scroll to it: a box whose content is
    taller (or wider) than the box where it does not scroll, a text with more lines
    than its height, or a widget below the screen with nothing above it that scrolls."""
    found = []
    for w in [screen, *screen.walk_children(Widget)]:
        if not w.display:
            continue
        if w.is_scrollable:
            content, room = w.virtual_size, w.scrollable_content_region.size
            if content.height > room.height and w.styles.overflow_y == "hidden":
                found.append(f"{w!r}: {content.height} lines in {room.height}, not scrolling")
            if content.width > room.width and w.styles.overflow_x == "hidden":
                found.append(f"{w!r}: {content.width} columns in {room.width}, not scrolling")
        elif isinstance(w, Static) and w.content_region.width > 0:
            lines = w.get_content_height(screen.size, screen.size, w.content_region.width)
            if lines > w.content_region.height:
                found.append(f"{w!r}: {lines} lines of text in {w.content_region.height}")
        scrolls = any(
            a.is_scrollable and a.styles.overflow_y != "hidden"
            for a in w.ancestors_with_self[1:]
            if isinstance(a, Widget)
        )
        if w.region.bottom > screen.region.bottom and not scrolls:
            found.append(f"{w!r}: below the screen, nothing to scroll")
    return found


MAIN_DIALOGS = {
    "main": keys(),
    "help": keys("question_mark"),
    "settings": keys("s"),
    "edit": keys("e"),
    "new": keys("n"),
    "sessions": keys("o"),
    "distribution-of-20": keys("d"),
    "vs-before-a-run": showing(
        lambda app, lab: VersusScreen(
            app.session, lab["root"], ("demo", "demo-wedding"), GenerationParams(n=2, max_tokens=8), app.loom_theme
        )
    ),
}


@pytest.mark.parametrize("size", [(80, 24), (140, 40)], ids=["80x24", "140x40"])
@pytest.mark.parametrize("name", [*RESULTS, *DIALOGS, *MAIN_DIALOGS])
async def test_every_screen_shows_all_or_scrolls(app, lab, size, name):
    """Issue 13: every dialog and result screen either fits at 80x24 (and 140 columns)
    or scrolls to what does not; nothing is cut with no way to reach it."""
    setup = {**RESULTS, **DIALOGS, **MAIN_DIALOGS}[name]
    async with app.run_test(size=size) as pilot:
        await setup(lab)(pilot)
        await pilot.pause(0.2)
        assert cut_off(pilot.app.screen) == []


async def test_model_vs_model_scrolls_to_both_models_branches_at_80x24(app, lab):
    """Issue 13's known failure: at 80x24 the model-vs-model screen squeezed its block
    multiverses to nothing and cut the branches off, with no way to scroll to them."""
    async with app.run_test(size=(80, 24)) as pilot:
        await RESULTS["vs"](lab)(pilot)
        screen = pilot.app.screen
        for side in "ab":
            assert screen.query_one(f"#blocks-{side}").size.height >= 6
            branches = screen.query_one(f"#branches-{side}")
            branches.scroll_visible(animate=False)
            await pilot.pause(0.1)
            assert screen.region.contains_region(branches.region), (side, branches.region)
            assert "[" in str(branches.render())  # the branches, each with its node id
