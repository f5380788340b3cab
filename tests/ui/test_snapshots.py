"""What a user sees, as committed SVG snapshots (pytest-textual-snapshot): the
main screen and its dialogs at 80x24 and 160x48, on a session made the same
way every time (fixed seeds on the bundled demo model).

After a deliberate change to the screens: `python -m pytest tests/ui/test_snapshots.py --snapshot-update`,
then look at the new SVGs before committing them."""

import pytest

from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def app(tmp_path, demo_backend):
    s = Session(tmp_path / "tale.loom")
    root = s.add_node(None, "The miller's youngest son walked along the road to the town", "prompt")
    kids = generate_children(s, demo_backend, root.id, GenerationParams(n=3, max_tokens=24, seed=11)).nodes
    generate_children(s, demo_backend, kids[0].id, GenerationParams(n=2, max_tokens=16, seed=5))
    s.current = kids[0].id
    s.set_state("model", "demo")
    return LoomApp(s, backend=demo_backend)


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def press(*keys):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_main_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=press("full_stop", "full_stop"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
# (the session picker names the session folder, a temporary path here: its behaviour has Pilot tests)
@pytest.mark.parametrize("key", ["question_mark", "s", "e", "n"], ids=["help", "settings", "edit", "new"])
def test_dialogs(snap_compare, app, size, key):
    assert snap_compare(app, terminal_size=size, run_before=press(key))
