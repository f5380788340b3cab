"""Model vs model: the same node on two models, side by side."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Static

from ...experiments.base import Cancel, ProgressFn
from ...experiments.models import open_model
from ...experiments.vs import SURE, VersusResult, compare_models
from ...store import Session
from ...textsafe import one_line, visible
from ...themes import LoomTheme
from ...tree import GenerationParams
from ..blockview import BlockView
from ..charts import distribution_chart, token_label
from ..figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from ..jobs import Job, screen_job
from ..words import plural
from .base import ResultScreen


# -- model vs model ---------------------------------------------------------------
def summary_text(result: VersusResult) -> Text:
    t = Text()
    a, b = result.models
    rows = [
        (
            "mean entropy per token",
            [
                ("n/a" if m.mean_entropy_bits is None else f"{m.mean_entropy_bits:.2f} bits")
                + ("" if m.entropy_exact else " (est.)")
                for m in (a, b)
            ],
        ),
        (f"tokens above {SURE:.0%}", ["n/a" if m.share_sure is None else f"{m.share_sure:.0%}" for m in (a, b)]),
        ("top next token", ["n/a" if m.top is None else f"{token_label(m.top.text)} {m.top.prob:.0%}" for m in (a, b)]),
    ]
    t.append(f"{'':<24}{visible(a.model)[:22]:>24}{visible(b.model)[:22]:>24}\n", style="bold")  # 72 columns: fits 80
    for label, vals in rows:
        t.append(f"{label:<24}{vals[0]:>24}{vals[1]:>24}\n")
    return t


class VersusScreen(ResultScreen[None]):
    """The same node on two models: branches, next-token chart and block multiverse side by side."""

    BINDINGS = [
        Binding("ctrl+r", "run", "run both"),
        FIGURE_BINDING,
        Binding("escape", "close", "close", priority=True),
    ]

    def __init__(
        self,
        session: Session,
        node_id: int,
        models: tuple[str, str],
        params: GenerationParams,
        theme: LoomTheme,
        on_done: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.session, self.node_id, self.models, self.params, self.theme = session, node_id, models, params, theme
        self.on_done = on_done
        self.result: VersusResult | None = None
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                f"model vs model · node {self.node_id} · {plural(self.params.n, 'branch')} of {plural(self.params.max_tokens, 'token')} each, same seeds",
                style="bold",
            ),
            classes="title",
        )
        with Horizontal(id="models"):
            yield Input(self.models[0], id="model-a", placeholder="model A")
            yield Input(self.models[1], id="model-b", placeholder="model B")
        yield Static(
            f"ctrl+r: run both (branches are saved as children)   {FIGURE_KEY}: save the figure   escape: close",
            classes="hint",
        )
        with VerticalScroll(id="body"):  # at 80x24 the two sides scroll rather than squeeze to nothing
            yield Static("", id="summary")
            with Horizontal(id="sides"):
                for side in ("a", "b"):
                    with Vertical(classes="side"):
                        yield Static("", id=f"dist-{side}")
                        yield BlockView(self.theme, id=f"blocks-{side}")
                        yield Static("", id=f"branches-{side}", classes="branches")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#model-a", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_run()

    def action_run(self) -> None:
        names = (self.query_one("#model-a", Input).value.strip(), self.query_one("#model-b", Input).value.strip())
        if not all(names):
            self.notify("Name both models (e.g. demo and demo-wedding).", severity="warning")
            return
        session, node_id, params = self.session, self.node_id, self.params
        say = self.query_one("#summary", Static).update
        say(Text(f"loading and running {names[0]} and {names[1]}…", style="italic"))

        def body(progress: ProgressFn, cancel: Cancel) -> VersusResult:
            backends = [open_model(n) for n in names]  # loaded once per process, the app's own included
            return compare_models(session, backends, node_id, params, cancel=cancel, progress=progress, views=True)

        def done(result: VersusResult) -> None:
            self.job = None
            if len(result.models) == 2:
                self._show(result)
            else:
                say(Text("cancelled before both models ran", style="italic"))

        def failed(message: str) -> None:
            self.job = None
            say(Text(message, style="red"))

        self.job = screen_job(
            self,
            "vs",
            f"{names[0]} vs {names[1]} on node {node_id}",
            body,
            done,
            failed=failed,
            shown=lambda p: say(Text(f"running {names[0]} and {names[1]}… {p.describe()}", style="italic")),
        )

    def _show(self, result: VersusResult) -> None:
        self.result = result
        self.query_one("#summary", Static).update(summary_text(result))
        for side, summary in zip(("a", "b"), result.models):
            head = Text(f"{visible(summary.model)}\n", style="bold")
            if summary.next_tokens is not None:
                head.append_text(distribution_chart(summary.next_tokens, self.theme))
            self.query_one(f"#dist-{side}", Static).update(head)
            if summary.multiverse is not None:
                self.query_one(f"#blocks-{side}", BlockView).show(summary.multiverse)
            t = Text()
            for node in summary.nodes:
                t.append(f"[{node.id}] ", style="dim")
                t.append(one_line(node.text, 400) + "\n")
            self.query_one(f"#branches-{side}", Static).update(t)
        if self.on_done:
            self.on_done(self.node_id)

    def action_save_figure(self) -> None:
        r = self.result
        save_figure(self, self.session, r.plot if r else None, "vs", r.record if r else None, self.node_id)

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
        self.dismiss(None)
