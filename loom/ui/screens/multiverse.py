"""The block multiverse of one node: zoom, depth, k, mass cut-off, branch, export."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Input, Label, Static

from ...analysis.multiverse import (
    MAX_DEPTH,
    MAX_K,
    Block,
    Multiverse,
    MultiverseError,
    fit_scale,
)
from ...experiments.base import Cancel, ProgressFn
from ...experiments.models import Backend
from ...experiments.multiverse import MultiverseResult, add_branch, keep_record, multiverse
from ...render.svg import write_png, write_svg
from ...store import Session, StoreError
from ...textsafe import visible
from ...themes import LoomTheme
from ...tree import LoomError, Node
from ..blockview import BlockView, describe
from ..jobs import Job, screen_job
from .base import Dialog, ResultScreen

MASS_STEPS = (None, 0.5, 0.8, 0.9, 0.95)


class MultiverseExportScreen(Dialog[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Export the block multiverse: a file ending in .svg or .png")
            yield Input(self.default, id="path")
            yield Static("enter: write   escape: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def export_view(view: Multiverse, theme: LoomTheme, path: str, fit: bool = True) -> str:
    """Write SVG or PNG by the file's suffix; returns what was written."""
    if path.lower().endswith(".png"):
        return str(write_png(view, theme, path, fit=fit))
    return str(write_svg(view, theme, path, fit=fit))


class MultiverseScreen(ResultScreen[None]):
    """The block multiverse of one node."""

    BINDINGS = [
        Binding("enter,z", "zoom_in", "zoom in"),
        Binding("backspace,x", "zoom_out", "zoom out"),
        Binding("plus,equals_sign", "depth(1)", "depth+"),
        Binding("minus", "depth(-1)", "depth-"),
        Binding("right_square_bracket", "k(1)", "k+"),
        Binding("left_square_bracket", "k(-1)", "k-"),
        Binding("m", "mass", "mass cut-off"),
        Binding("f", "fit", "fit/absolute"),
        Binding("b", "branch", "make branch"),
        Binding("e", "export", "export SVG/PNG"),
        Binding("escape,q", "close", "close", priority=True),
    ]

    def __init__(
        self,
        session: Session,
        node_id: int,
        backend: Backend,
        theme: LoomTheme,
        depth: int = 3,
        k: int = 4,
        on_branch: Callable[[Node], None] | None = None,
    ) -> None:
        super().__init__()
        self.session, self.node_id, self.backend, self.theme = session, node_id, backend, theme
        self.depth, self.k, self.mass = depth, k, None
        self.on_branch = on_branch
        self.stack: list[MultiverseResult] = []  # views zoomed out of, newest last
        self.result: MultiverseResult | None = None
        self.view: Multiverse | None = None
        self.job: Job | None = None  # the expansion running

    def compose(self) -> ComposeResult:
        yield Static("", classes="title", id="mv-title")
        yield BlockView(self.theme, id="blocks")
        yield Static("", classes="info", id="mv-info")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(BlockView).focus()
        self.refresh_view()

    def _title(self, busy: str = "") -> None:
        t = Text()
        t.append(
            f"block multiverse · node {self.node_id} · {self.backend.name} · depth {self.depth} · top-{self.k}",
            style="bold",
        )
        t.append(f" · mass cut-off {self.mass:g}" if self.mass else " · no mass cut-off")
        if self.view is not None and self.view.prefix:
            t.append(" · zoomed into ")
            t.append(visible("".join(tok.text for tok in self.view.prefix)), style="underline")
        if busy:
            t.append(f"   {busy}", style="italic")
        elif self.view is not None:
            bv = self.query_one(BlockView)
            scale = fit_scale(self.view) if bv.fit else 1.0
            t.append(
                f"\nfull height = p {1 / scale:.3g} ({'fitted to the first column' if bv.fit else 'absolute'})",
                style="dim",
            )
            t.append(
                " · mass per column: "
                + ", ".join(f"{self.view.mass_at(d):.3f}" for d in range(1, self.view.depth + 1)),
                style="dim",
            )
        self.query_one("#mv-title", Static).update(t)

    def refresh_view(self, prefix=None) -> None:
        """Expand the view again (zoomed into `prefix`, or where it is) as a job; one asked
        for while another expands replaces it."""
        prefix = tuple(self.view.prefix if prefix is None and self.view is not None else (prefix or ()))
        session, backend, node_id, depth, k, mass = (
            self.session,
            self.backend,
            self.node_id,
            self.depth,
            self.k,
            self.mass,
        )
        self._title("expanding…")

        def body(progress: ProgressFn, cancel: Cancel) -> MultiverseResult:
            # not stored: zooming makes many views; the one exported is kept (action_export)
            return multiverse(
                session, backend, node_id, depth, k, mass, prefix=prefix, save=False, progress=progress, cancel=cancel
            )

        def failed(message: str) -> None:
            self.job = None
            self._title()

        self.job = screen_job(
            self,
            "multiverse",
            f"block multiverse of node {node_id}",
            body,
            self._shown,
            failed=failed,
            shown=lambda p: self._title(f"expanding… {p.describe()}"),
        )

    def _shown(self, result: MultiverseResult) -> None:
        self.result, self.view = result, result.view
        self.job = None
        self.query_one(BlockView).show(result.view)
        self._title()

    def on_block_view_selected(self, msg: BlockView.Selected) -> None:
        if self.view is not None:
            self.query_one("#mv-info", Static).update(describe(self.view, msg.block))

    @property
    def selected(self) -> Block | None:
        return self.query_one(BlockView).selected

    def action_zoom_in(self) -> None:
        b = self.selected
        if self.view is None or b is None:
            return
        if b.terminal:
            self.notify("That block is the end of the text: nothing follows it.", timeout=3)
            return
        self.stack.append(self.result)
        self.refresh_view((*self.view.prefix, *b.tokens()))

    def action_zoom_out(self) -> None:
        if not self.stack:
            self.notify("Already at the node: this view is not zoomed.", timeout=2)
            return
        prev = self.stack.pop()
        if (prev.view.depth, prev.view.k, prev.view.mass) == (self.depth, self.k, self.mass):
            self._shown(prev)
        else:
            self.refresh_view(prev.view.prefix)

    def action_depth(self, step: int) -> None:
        self.depth = max(1, min(MAX_DEPTH, self.depth + step))
        self.refresh_view()

    def action_k(self, step: int) -> None:
        self.k = max(1, min(MAX_K, self.k + step))
        self.refresh_view()

    def action_mass(self) -> None:
        self.mass = MASS_STEPS[(MASS_STEPS.index(self.mass) + 1) % len(MASS_STEPS)]
        self.refresh_view()

    def action_fit(self) -> None:
        bv = self.query_one(BlockView)
        bv.fit = not bv.fit
        bv.show(self.view, bv.selected)
        self._title()

    def action_branch(self) -> None:
        b = self.selected
        if self.view is None or b is None:
            return
        try:
            node = add_branch(self.session, self.node_id, self.view, b)
        except (MultiverseError, StoreError) as exc:
            self.notify(str(exc), severity="error")
            return
        if self.on_branch:
            self.on_branch(node)
        self.notify(f"Saved as node {node.id}, a child of node {self.node_id}.", timeout=3)

    def action_export(self) -> None:
        if self.result is None:
            return
        result = self.result
        default = str(self.session.path.parent / f"{self.session.name}-node{self.node_id}-multiverse.svg")

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                written = export_view(result.view, self.theme, path, self.query_one(BlockView).fit)
                record = keep_record(self.session, result)  # a picture is traceable to its record
            except LoomError as exc:
                self.notify(str(exc), title="export failed", severity="error", timeout=10)
                return
            self.notify(f"Wrote {written}" + ("" if record is None else f" (record {record})"), timeout=5)

        self.app.push_screen(MultiverseExportScreen(default), done)

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
        self.dismiss(None)
