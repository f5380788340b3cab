"""The app's one job model through Pilot, on a real session and the demo model:
progress with count and time left in the jobs line, escape cancels and keeps what
finished, jobs in one lane do not overlap, a failure becomes a notice, quitting
with a job running asks first."""

import threading

from textual.widgets import ProgressBar, Static

from loom.experiments.base import Counter
from loom.store import Session
from loom.tree import GenerationParams
from loom.ui.app import LoomApp
from loom.ui.dialogs import QuitScreen
from loom.ui.jobs import JobsLine


def make_app(tmp_path, demo_backend, **params) -> LoomApp:
    s = Session(tmp_path / "jobs.loom")
    s.current = s.add_node(None, "The lighthouse keeper climbed the stairs", "prompt").id
    s.set_state("params", GenerationParams(**params).to_dict())
    return LoomApp(s, backend=demo_backend)


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def wait_for(pilot, check, what: str) -> None:
    for _ in range(400):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(what)


def stepper(steps: int, release: threading.Event, finished: list):
    """A job body that counts `steps` steps, waiting for `release` after the first;
    it stops at its next step when cancelled and returns the steps it finished."""

    def body(progress, cancel):
        count = Counter(progress, steps, "steps")
        for i in range(steps):
            if cancel.is_set():
                break
            count.step()
            finished.append(i)
            release.wait(10)
        return list(finished)

    return body


async def test_jobs_line_shows_count_and_escape_cancels_keeping_what_finished(tmp_path, demo_backend):
    app = make_app(tmp_path, demo_backend)
    release, finished, results = threading.Event(), [], []
    async with app.run_test(size=(120, 30)) as pilot:
        line = app.query_one(JobsLine)
        assert line.has_class("idle")
        job = app.start_job("count", "counting", stepper(4, release, finished), results.append)
        await wait_for(pilot, lambda: job.progress is not None, "no progress came")
        assert not line.has_class("idle")
        assert "counting: 1/4 steps" in str(line.query_one("#job-text", Static).render())
        bar = line.query_one(ProgressBar)
        assert (bar.total, bar.progress) == (4, 1)
        await pilot.press("escape")  # cancels the newest job
        assert job.cancel.is_set()
        release.set()
        await wait_for(pilot, lambda: not app.running, "the job did not end")
        assert results == [[0]]  # what it finished reached its done
        assert "cancelled; what finished is kept" in str(app.query_one("#status", Static).render())
        assert line.has_class("idle")


async def test_a_second_job_on_the_model_is_refused_and_says_why(tmp_path, demo_backend):
    app = make_app(tmp_path, demo_backend, n=2, max_tokens=8, seed=3)
    release, finished = threading.Event(), []
    async with app.run_test(size=(120, 30)) as pilot:
        first = app.start_job("count", "counting", stepper(3, release, finished))
        assert first is not None
        await pilot.press("g")  # generation uses the model too
        await pilot.pause()
        assert [j.label for j in app.running] == ["counting"]
        assert "counting is still running" in str(app.query_one("#status", Static).render())
        assert app.start_job("other", "another count", stepper(1, release, [])) is None
        # another lane runs beside it
        other = app.start_job("other", "a library job", stepper(1, release, []), lane="library")
        assert other is not None and len(app.running) == 2
        release.set()
        await wait_for(pilot, lambda: not app.running, "the jobs did not end")
        await pilot.press("g")  # free again: the generation runs, as a job, and saves its branches
        await wait_for(pilot, lambda: not app.running, "the generation did not end")
        assert len(app.session.child_ids(app.node_id)) == 2


async def test_a_failing_job_becomes_a_notice_and_the_app_goes_on(tmp_path, demo_backend):
    app = make_app(tmp_path, demo_backend)
    said = []

    def body(progress, cancel):
        raise RuntimeError("the disk fell off")

    async with app.run_test(size=(120, 30)) as pilot:
        app.start_job("broken", "a broken job", body, failed=said.append)
        await wait_for(pilot, lambda: not app.running, "the job did not end")
        assert said == ["RuntimeError: the disk fell off"]
        assert any("the disk fell off" in m for m in messages(app))
        assert "a broken job failed" in str(app.query_one("#status", Static).render())
        assert app.is_running


async def test_quitting_with_a_job_running_asks_first(tmp_path, demo_backend):
    app = make_app(tmp_path, demo_backend)
    release, finished = threading.Event(), []
    async with app.run_test(size=(120, 30)) as pilot:
        job = app.start_job("count", "counting", stepper(3, release, finished))
        await wait_for(pilot, lambda: job.progress is not None, "no progress came")
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        assert "counting: 1/3 steps" in str(app.screen.query_one(".hint", Static).render())
        await pilot.press("escape")  # stay
        assert not isinstance(app.screen, QuitScreen) and app.is_running and not job.cancel.is_set()
        await pilot.press("q")
        await pilot.press("y")
        await pilot.pause()
        assert job.cancel.is_set()
        release.set()
    assert not app.is_running


async def test_switching_sessions_stops_the_generation_and_keeps_it_in_its_own_session(tmp_path, demo_backend):
    app = make_app(tmp_path, demo_backend, n=2, max_tokens=400, seed=5)
    first = app.session.path
    other = Session(tmp_path / "other.loom")
    other_root = other.add_node(None, "A second story", "prompt").id
    other.current = other_root
    other.close()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("g")
        await wait_for(pilot, lambda: app._live, "the generation did not start")
        app.switch_session(tmp_path / "other.loom")
        await wait_for(pilot, lambda: not app.running, "the generation did not stop")
        await pilot.pause()
        assert "stopped with its session" in str(app.query_one("#status", Static).render())
        assert not any("failed" in m for m in messages(app))
        assert app.session.child_ids(other_root) == [] and app.node_id == other_root
    assert Session(first).count() >= 1  # the first session is as the generation left it
