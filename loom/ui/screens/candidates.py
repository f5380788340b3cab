"""Scored candidates after a node (typed, a file, or the numbers 0-100)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Static, TextArea

from ...experiments.context import path_context
from ...experiments.models import Backend
from ...experiments.score import ScoreResult, gather, score
from ...store import Session
from ...textsafe import one_line
from ...themes import LoomTheme
from ...tree import LoomError
from ..charts import candidates_chart
from ..figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from ..jobs import Job, screen_job
from .base import Dialog


class CandidatesScreen(Dialog[None]):
    BINDINGS = [Binding("ctrl+r", "score", "score"), FIGURE_BINDING, Binding("escape", "close", "close", priority=True)]

    def __init__(self, session: Session, backend: Backend, node_id: int, theme: LoomTheme) -> None:
        super().__init__()
        self.backend, self.theme, self.session, self.node_id = backend, theme, session, node_id
        self.text = path_context(session, node_id).text
        self.scored: ScoreResult | None = None
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(f"Score candidates after node {self.node_id} ({self.backend.name})", style="bold"))
            yield Static(Text("…" + one_line(self.text[-90:], 90), style="dim"))
            yield Label("Candidates, one per line:")
            yield TextArea("", id="typed", soft_wrap=False, show_line_numbers=False)
            yield Checkbox("add the preset: the integers 0-100", id="numbers")
            with Horizontal():
                yield Input(placeholder="file with one candidate per line", id="file")
                yield Input(placeholder="separator (empty: a space if needed)", id="sep")
                yield Input(placeholder="end (e.g. . so ' 5' excludes ' 57')", id="end")
            yield Static(
                f"ctrl+r: score   {FIGURE_KEY}: save the figure   tab: next field   escape: close", classes="hint"
            )
            yield Static("", id="result")

    def on_mount(self) -> None:
        self.query_one("#typed", TextArea).focus()

    def action_score(self) -> None:
        typed = [line for line in self.query_one("#typed", TextArea).text.splitlines() if line.strip()]
        presets = ["numbers"] if self.query_one("#numbers", Checkbox).value else []
        path = self.query_one("#file", Input).value.strip()
        try:
            cands = gather(typed, presets, [path] if path else [])
        except LoomError as exc:
            self.query_one("#result", Static).update(Text(str(exc), style="red"))
            return
        sep = self.query_one("#sep", Input).value or None
        end = self.query_one("#end", Input).value
        self.query_one("#result", Static).update(Text(f"scoring {len(cands)} candidates…", style="italic"))
        self.run_score(cands, sep, end, presets)

    def run_score(self, cands: list[str], sep: str | None, end: str, presets: list[str]) -> None:
        session, backend, node_id = self.session, self.backend, self.node_id
        self.job = screen_job(
            self,
            "score",
            f"scoring {len(cands)} candidates after node {node_id}",
            lambda progress, cancel: score(session, backend, node_id, cands, separator=sep, end=end, presets=presets),
            self._show,
            failed=lambda message: self.query_one("#result", Static).update(Text(message, style="red")),
        )

    def _show(self, result: ScoreResult) -> None:
        self.job = None
        self.result = result.scores
        self.scored = result
        chart = candidates_chart(result.scores, self.theme)
        for text in result.notices:
            chart.append(f"\n{text}", style="italic")
        self.query_one("#result", Static).update(chart)

    def action_save_figure(self) -> None:
        r = self.scored
        save_figure(self, self.session, r.plot if r else None, "score", r.record if r else None, self.node_id)

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
        self.dismiss(None)
