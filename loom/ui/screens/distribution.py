"""The next-token distribution at a token (or after a node), with its entropy (a job)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...experiments.context import path_context, token_context
from ...experiments.distribution import DistributionResult, distribution
from ...experiments.models import Backend
from ...store import Session
from ...textsafe import one_line
from ...themes import LoomTheme
from ..charts import distribution_chart
from ..jobs import Job, screen_job
from .base import Dialog


# -- next-token distribution ----------------------------------------------------
class DistributionScreen(Dialog[None]):
    BINDINGS = [
        Binding("plus,equals_sign", "k(5)", "more"),
        Binding("minus", "k(-5)", "fewer"),
        Binding("escape,q", "close", "close", priority=True),
    ]

    def __init__(
        self, session: Session, backend: Backend, node_id: int, token: int | None, theme: LoomTheme, k: int = 15
    ) -> None:
        super().__init__()
        self.session, self.backend, self.node_id, self.token, self.theme, self.k = (
            session,
            backend,
            node_id,
            token,
            theme,
            k,
        )
        self.where = f"after node {node_id}" if token is None else f"at token {token} of node {node_id}"
        context = path_context(session, node_id) if token is None else token_context(session, node_id, token)
        self.text = context.text
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():  # scrolls (arrows, page keys) where the terminal is short
            yield Static(Text(f"next token {self.where} ({self.backend.name})", style="bold"))
            yield Static(Text("…" + one_line(self.text[-70:], 70), style="dim"))
            yield Static("computing…", id="chart")
            yield Static("+/-: more or fewer tokens   escape: close", classes="hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.compute()

    def compute(self) -> None:
        session, backend, node_id, token, k = self.session, self.backend, self.node_id, self.token, self.k
        self.job = screen_job(
            self,
            "distribution",
            f"next-token distribution {self.where}",
            lambda progress, cancel: distribution(session, backend, node_id, token=token, k=k),
            self._show,
            failed=self._failed,
        )

    def _failed(self, message: str) -> None:
        self.job = None
        self.query_one("#chart", Static).update(Text(message, style="red"))

    def _show(self, result: DistributionResult) -> None:
        self.job = None
        chosen = None if result.sampled is None else result.sampled.token_id
        self.query_one("#chart", Static).update(distribution_chart(result.distribution, self.theme, chosen))

    def action_k(self, step: int) -> None:
        self.k = max(5, min(100, self.k + step))
        self.compute()

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
        self.dismiss(None)
