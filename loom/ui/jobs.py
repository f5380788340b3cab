"""The one job model of the app: every long action (generate, report, sweep,
replay, import, export...) is a `Job` run in a worker thread with its own
cancel token, its progress shown in the `JobsLine` (a bar, the count and the
time left), and a failure turned into a notice by the app's Worker.StateChanged
handler. Jobs in one lane (the app's model, the library) never overlap: a second
one is refused with a message instead of racing the first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ProgressBar, Static
from textual.worker import Worker

from ..experiments.base import Cancel, Progress, ProgressFn

if TYPE_CHECKING:
    from .app import LoomApp

#: what a job runs in its worker thread: given a progress callback and its cancel token, returns the result
JobBody = Callable[[ProgressFn, Cancel], Any]


@dataclass(eq=False)
class Job:
    name: str  # what kind of job ("report", "generate"...)
    label: str  # what it does, for the jobs line and its notices ("report on node 12")
    lane: str  # jobs in one lane never run at once ("model": the app's model; "library": files)
    done: Callable[[Any], None] | None = None  # called on the app's thread with the result (also after a cancel)
    failed: Callable[[str], None] | None = None  # called on the app's thread with what went wrong
    shown: ProgressFn | None = None  # called on the app's thread with each progress (a screen's own line)
    session: object = None  # the session it works on: its result means nothing once another is open
    cancel: Cancel = field(default_factory=threading.Event)
    progress: Progress | None = None
    worker: Worker | None = None

    def describe(self) -> str:
        """'report on node 12: 20/50 samples, 8 s left'."""
        if self.cancel.is_set():
            return f"{self.label}: cancelling… what finished is kept"
        return f"{self.label}: {self.progress.describe()}" if self.progress else f"{self.label}…"


@dataclass
class JobProgress(Message):
    """A running job made progress; a newer one replaces an older one still queued."""

    job: Job
    progress: Progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress) and message.job is self.job


class JobsLine(Horizontal):
    """The running jobs on one line: the newest one's bar, count and time left, and how many others run."""

    DEFAULT_CSS = """
    JobsLine { height: 1; width: auto; max-width: 70%; padding: 0 1; }
    JobsLine.idle { display: none; }
    JobsLine ProgressBar { width: auto; padding: 0 1; }
    JobsLine ProgressBar Bar { width: 16; }
    JobsLine #job-text { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_percentage=False, show_eta=False, id="job-bar")
        yield Static("", id="job-text")

    def on_mount(self) -> None:
        self.add_class("idle")
        self.watch(self.app, "running", self.show)  # the app's running jobs

    def show(self, jobs: tuple[Job, ...]) -> None:
        self.set_class(not jobs, "idle")
        if not jobs:
            return
        job = jobs[-1]
        p = job.progress
        self.query_one(ProgressBar).update(total=p.total if p and p.total else None, progress=p.done if p else 0)
        more = f" (+{len(jobs) - 1} more)" if len(jobs) > 1 else ""
        self.query_one("#job-text", Static).update(Text(job.describe() + more))


def screen_job(
    screen: Widget,
    name: str,
    label: str,
    body: JobBody,
    done: Callable[[Any], None],
    failed: Callable[[str], None] | None = None,
    shown: ProgressFn | None = None,
) -> Job | None:
    """A job for a screen (the app's start_job in the screen's own lane): asked again,
    it replaces the running one; its result, failure and progress reach the screen only
    while the screen is still shown. The screen cancels it when it closes."""

    def while_shown(fn: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        return None if fn is None else (lambda value: fn(value) if screen.is_attached else None)

    app = cast("LoomApp", screen.app)
    return app.start_job(
        name,
        label,
        body,
        while_shown(done),
        lane=f"{name}-{id(screen)}",
        failed=while_shown(failed),
        shown=while_shown(shown),
        replace=True,
    )
