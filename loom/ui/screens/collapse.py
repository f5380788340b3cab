"""The collapse-versus-temperature screen: a node's path read by a tuned and a
base model, the single temperature on the base that comes closest to the tuned
one, what it leaves over, and one row per position (experiments.collapse);
loom/ui/collapse.py opens it for the app's current node.

Model text goes in as rich Text built from plain strings made visible with
textsafe, never as markup. The models run as a job (jobs.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Checkbox, DataTable, Footer, Input, Static

from ...store import Session
from ...textsafe import visible
from ..figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from ..jobs import Job, screen_job
from .base import ResultScreen

if TYPE_CHECKING:  # the experiment is imported when it runs, not with the app
    from ...experiments.base import Cancel, ProgressFn
    from ...experiments.collapse import CollapseResult

COLUMNS = ("pos", "token", "H tuned", "H base", "KL T=1", "best T", "KL best", "KL glob")


def summary_text(result: CollapseResult) -> Text:
    """The summary lines of `loom collapse` (the table is the screen's DataTable)."""
    from ...experiments.collapse import format_collapse

    data = {**result.to_dict(), "rows": [], "notices": []}
    lines = format_collapse(data).splitlines()[:6]
    t = Text(visible("\n".join(lines)))
    if result.record is not None:
        t.append(f"\nstored as record {result.record}", style="dim")
    for note in result.notices:
        t.append(f"\nnote: {visible(note)}", style="italic")
    return t


class CollapseScreen(ResultScreen[None]):
    """Collapse vs temperature: how much of a tuned model's sharpening one temperature on a base model explains."""

    BINDINGS = [Binding("ctrl+r", "run", "run"), FIGURE_BINDING, Binding("escape", "close", "close", priority=True)]

    def __init__(self, session: Session, node_id: int, models: tuple[str, str]) -> None:
        super().__init__()
        self.session, self.node_id, self.models = session, node_id, models
        self.result: CollapseResult | None = None
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"collapse vs temperature · node {self.node_id} · KL(tuned || base at T), bits", style="bold"),
            classes="title",
        )
        with Horizontal(id="models"):
            yield Input(self.models[0], id="tuned", placeholder="tuned model (A)")
            yield Input(self.models[1], id="base", placeholder="base model (B)")
            yield Checkbox("only this node", id="only-node")
        yield Static(
            f"enter or ctrl+r: run (stored as a record)   {FIGURE_KEY}: save the figure   escape: close", classes="hint"
        )
        yield Static("", id="summary")
        yield DataTable(id="table", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one("#tuned", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_run()

    def action_run(self) -> None:
        from ...experiments.collapse import collapse
        from ...experiments.models import open_model

        names = (self.query_one("#tuned", Input).value.strip(), self.query_one("#base", Input).value.strip())
        if not all(names):
            self.notify("Name both models (e.g. demo-wedding and demo).", severity="warning")
            return
        scope = "node" if self.query_one("#only-node", Checkbox).value else "path"
        self._say(Text(f"loading and running {visible(names[0])} and {visible(names[1])}…", style="italic"))
        session, node_id = self.session, self.node_id

        def body(progress: ProgressFn, cancel: Cancel) -> CollapseResult:
            tuned, base = (open_model(n) for n in names)  # loaded once per process, the app's own included
            return collapse(session, tuned, base, node_id, scope=scope, progress=progress, cancel=cancel)

        def failed(message: str) -> None:
            self.job = None
            self._say(Text(visible(message), style="red"))

        self.job = screen_job(
            self,
            "collapse",
            f"collapse of {names[0]} against {names[1]} on node {node_id}",
            body,
            self._show,
            failed=failed,
            shown=lambda p: self._say(Text(f"running the models: {p.describe()}", style="italic")),
        )

    def _say(self, text: Text) -> None:
        self.query_one("#summary", Static).update(text)

    def _show(self, result: CollapseResult) -> None:
        self.result = result
        self.job = None
        self._say(summary_text(result))
        table = self.query_one(DataTable)
        table.clear()
        for r in result.rows():
            table.add_row(
                str(r["position"]),
                Text(visible(repr(r["token"]))),
                *(f"{r[k]:.3f}" for k in ("entropy_a", "entropy_b", "kl_t1", "best_t", "kl_best", "kl_at_global_t")),
            )

    def action_save_figure(self) -> None:
        r = self.result
        save_figure(self, self.session, r.plot if r else None, "collapse", r.record if r else None, self.node_id)

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
        self.dismiss(None)
