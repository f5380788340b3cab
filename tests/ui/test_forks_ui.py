"""F in the app: the forks run as a job on the current path, the screen of
positions, and the marks it leaves on the path view (Pilot, real session, the
bundled demo-wedding model)."""

import math

from textual.widgets import Input, OptionList, ProgressBar
from wedding_path import DECIDING, wedding_path

from loom.store import Session
from loom.ui.app import LoomApp
from loom.ui.pathview import PathView
from loom.ui.screens.forks import BASIN_STYLE, FORK_STYLE, NO_RETURN_STYLE, ForksForm, ForksScreen, path_marks


async def test_forks_key_runs_the_job_and_marks_the_path(tmp_path, wedding, workers_done):
    s = Session(tmp_path / "ui.loom")
    _, child = wedding_path(s, wedding)
    s.set_state("params", {"seed": 1})
    app = LoomApp(s, backend=wedding)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("F")
        await workers_done(pilot)
        assert isinstance(app.screen, ForksForm)
        form = app.screen
        assert form.query_one("#f-end", Input).value == str(len(child.tokens) - 1)
        for name, value in (
            ("n", "6"),
            ("max_tokens", "8"),
            ("alternatives", "1"),
            ("start", str(DECIDING + 2)),
            ("end", str(DECIDING + 4)),
            ("stride", "x"),
        ):
            form.query_one(f"#f-{name}", Input).value = value
        form.query_one("#f-n", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert "stride must be a whole number" in str(form.query_one("#error").render())  # the form stays open
        form.query_one("#f-stride", Input).value = "1"
        await pilot.press("enter")
        await workers_done(pilot)  # the run
        screen = app.screen
        assert isinstance(screen, ForksScreen) and screen.result is not None
        result = screen.result
        # well after " until": every continuation reaches the wedding, so the basin begins at the first
        assert [p.position for p in result.positions] == [DECIDING + 2, DECIDING + 3, DECIDING + 4]
        assert result.point_of_no_return["position"] == DECIDING + 2 and result.params.seed == 1
        assert result.record is not None and s.records("forks")[-1]["id"] == result.record
        assert not screen.query_one(ProgressBar).display
        assert screen.query_one(OptionList).option_count == 3
        # the path view (on the main screen) carries the run's marks
        view = app.screen_stack[0].query_one(PathView)
        assert view.token_marks == path_marks(result) and view.token_marks
        assert view.token_marks[(child.id, DECIDING + 2)] == NO_RETURN_STYLE
        assert view.token_marks[(child.id, DECIDING + 4)] == BASIN_STYLE
        line = view._render(view._token_line[DECIDING + 2])  # the marked token is drawn overlined
        assert any(seg.style and seg.style.overline for seg in line)
        await pilot.press("down", "enter")  # the second position: the token cursor goes there
        await pilot.pause()
        assert not isinstance(app.screen, ForksScreen)
        assert view.token_marks == path_marks(result)  # the marks stay on the path
        assert view.cursor == DECIDING + 3 and app.node_id == child.id


def test_marks_follow_the_result():
    from loom.analysis.forks import Change, Mixed
    from loom.experiments.forks import Branch, ForksResult, Measured, Position

    positions = [Position(i, 5, i, i, [Branch("x", 1, 0.5, True, ["a"])]) for i in range(4)]
    mixed = [Mixed(r, 10, 0, 1, 1) for r in (0.1, 0.1, 1.0, 1.0)]
    cs = [
        Change(0, 0.1, 0.1, 0.1, 0, 1, 1, False),
        Change(1, 0.1, 1.0, 0.05, 4, 0.001, 0.003, True),
        Change(2, 1, 1, math.nan, 0, 1, 1, False),
        Change(3, 1, 1, math.nan, 0, 1, 1, False),
    ]
    r = ForksResult(5, "xxxx", positions, None, {}, measured=Measured([[1]] * 4, mixed, [], cs, 2, {"kind": "cluster"}))
    marks = path_marks(r)
    assert marks == {(5, 1): FORK_STYLE, (5, 2): NO_RETURN_STYLE, (5, 3): BASIN_STYLE}
