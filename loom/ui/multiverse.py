"""Seeing the multiverse in the terminal: the block multiverse (nested blocks,
zoom, branch, export), the next-token distribution chart, scored candidates
(the 0-100 experiment), and model vs model. `MultiverseActions` is the mixin
LoomApp takes in; it opens these screens for the current node.

All model text goes in as rich Text/Segments built from plain strings made
visible with textsafe, never as markup. Model calls run in worker threads."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Checkbox, Footer, Input, Label, Static, TextArea

from ..analysis.candidates import CandidateScores
from ..analysis.multiverse import (
    MAX_DEPTH,
    MAX_K,
    Block,
    Multiverse,
    MultiverseError,
    block_label,
    fit_scale,
    layout,
    short_prob,
)
from ..experiments.base import Progress
from ..experiments.context import path_context, token_context
from ..experiments.distribution import distribution
from ..experiments.models import Backend, open_model
from ..experiments.multiverse import MultiverseResult, add_branch, keep_record, multiverse
from ..experiments.score import ScoreResult, gather, score
from ..experiments.vs import SURE, VersusResult, compare_models
from ..render.svg import write_png, write_svg
from ..store import Session, StoreError
from ..textsafe import one_line, visible
from ..themes import LoomTheme
from ..tree import Distribution, GenerationParams, LoomError, Node
from .figures import FIGURE_BINDING, FIGURE_KEY, save_figure
from .keymap import Key
from .words import plural

MASS_STEPS = (None, 0.5, 0.8, 0.9, 0.95)
BAR = 36

SCREEN_CSS = """
{name} {{ background: $background; }}
{name} .title {{ height: auto; padding: 0 1; background: $panel; }}
{name} .info {{ height: auto; min-height: 2; padding: 0 1; background: $surface; }}
{name} .hint {{ color: $text-muted; height: 1; padding: 0 1; }}
"""


def bar_text(prob: float, width: int = BAR) -> str:
    eighths = round(max(0.0, min(1.0, prob)) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def token_label(text: str) -> str:
    """A token with its edges' spaces shown (␣), escapes visible, never markup."""
    if not text:
        return "∅"
    inner = visible(repr(text)[1:-1])
    core = inner.strip(" ")
    lead = len(inner) - len(inner.lstrip(" "))
    trail = len(inner) - len(inner.rstrip(" "))
    return "␣" * lead + core + "␣" * trail if core else "␣" * len(inner)


def distribution_chart(dist: Distribution, theme: LoomTheme, chosen: int | None = None) -> Text:
    """Bars of the top next tokens, coloured with the palette, and the entropy."""
    t = Text()
    labels = [token_label(a.text) for a in dist.alternatives]
    width = min(24, max((len(s) for s in labels), default=4))
    peak = max((a.prob for a in dist.alternatives), default=1.0) or 1.0
    for alt, label in zip(dist.alternatives, labels):
        i = theme.bucket(alt.prob)
        t.append(f"{label[:width]:<{width}} ", style="bold" if alt.token_id == chosen else "")
        t.append(f"{alt.prob:7.2%} ")
        t.append(
            bar_text(alt.prob / peak),
            style=theme.palette[i]
            if theme.palette[i] != theme.colors.get("panel")
            else theme.colors.get("primary", ""),
        )
        if chosen is not None and alt.token_id == chosen:
            t.append("  ◀ written here", style="bold")
        t.append("\n")
    shown = math.fsum(a.prob for a in dist.alternatives)
    ent = "n/a" if dist.entropy_bits is None else f"{dist.entropy_bits:.2f} bits"
    t.append(
        f"entropy {ent}; the top {len(dist.alternatives)} hold {shown:.1%} (bars relative to the first)", style="italic"
    )
    return t


# -- the block multiverse widget ------------------------------------------------
class BlockView(Widget, can_focus=True):
    """Nested blocks: a column per token position, each block as many rows tall
    as its share of the view's probability, coloured by its step probability,
    labelled on its first row. Blocks smaller than a row are not drawn."""

    DEFAULT_CSS = "BlockView { height: 1fr; width: 1fr; } BlockView:focus { border: none; }"
    BINDINGS = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("left,h", "out", "parent", show=False),
        Binding("right,l", "into", "child", show=False),
    ]

    class Selected(Message):
        def __init__(self, view: BlockView, block: Block | None) -> None:
            super().__init__()
            self.view, self.block = view, block

    def __init__(self, theme: LoomTheme, **kwargs) -> None:
        super().__init__(**kwargs)
        self.theme = theme
        self.view: Multiverse | None = None
        self.selected: Block | None = None
        self._grid: list[list[tuple[Block, bool, int] | None]] | None = None
        self._rows: dict[int, tuple[int, int]] = {}
        self._size = Size(0, 0)
        self.fit = True  # the first column fills the height (see fit_scale)

    def show(self, view: Multiverse | None, select: Block | None = None) -> None:
        self.view = view
        self._grid = None
        self.selected = select or (view.blocks[0] if view and view.blocks else None)
        self.post_message(self.Selected(self, self.selected))
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        self._grid = None
        self.refresh()

    def _build(self) -> None:
        h = self.size.height
        self._size = self.size
        self._rows = {}
        if self.view is None or h <= 0:
            self._grid = []
            return
        grid: list[list[tuple[Block, bool, int] | None]] = [[None] * self.view.depth for _ in range(h)]
        sibling: dict[int, int] = {}
        for parent_kids in [self.view.blocks, *(b.children for b in self.view.walk())]:
            for i, b in enumerate(parent_kids):
                sibling[id(b)] = i
        for p in layout(self.view, fit_scale(self.view) if self.fit else 1.0):
            r0, r1 = round(p.top * h), round(p.bottom * h)
            if r1 <= r0 or p.depth > self.view.depth:
                continue
            self._rows[id(p.block)] = (r0, r1)
            for r in range(r0, min(r1, h)):
                grid[r][p.depth - 1] = (p.block, r == r0, sibling.get(id(p.block), 0))
        self._grid = grid

    def visible_blocks(self) -> list[Block]:
        if self._grid is None or self._size != self.size:
            self._build()
        return [b for b in (self.view.walk() if self.view else ()) if id(b) in self._rows]

    def render_line(self, y: int) -> Strip:
        if self._grid is None or self._size != self.size:
            self._build()
        width = self.size.width
        bg = Style(bgcolor=self.theme.colors.get("background"))
        if not self._grid or y >= len(self._grid) or self.view is None:
            return Strip([Segment(" " * width, bg)], width)
        depth = self.view.depth
        colw = max(3, width // max(1, depth))
        segs: list[Segment] = []
        used = 0
        for d, cell in enumerate(self._grid[y]):
            w = colw if d < depth - 1 else max(0, width - used)
            w = min(w, width - used)
            if w <= 0:
                break
            used += w
            if cell is None:
                segs.append(Segment(" " * w, bg))
                continue
            block, first, nth = cell
            i = self.theme.bucket(block.cond_prob)
            color = Color.parse(self.theme.palette[i])
            if nth % 2:
                color = color.darken(0.06)  # neighbours of one colour stay apart
            style = Style(bgcolor=color.hex, color=self.theme.foreground(i))
            if block is self.selected:
                style += Style(reverse=True, bold=True)
            label = ""
            if first:
                label = f"{block_label(block) if block.terminal else token_label(block.text)} {short_prob(block.prob)}"
            body = (" " + label)[: w - 1].ljust(w - 1)
            segs.append(Segment(body, style))
            segs.append(Segment(" ", bg))
        return Strip(segs, width)

    # -- moving the selection ------------------------------------------------
    def _select(self, block: Block | None) -> None:
        if block is not None:
            self.selected = block
            self.post_message(self.Selected(self, block))
            self.refresh()

    def action_move(self, step: int) -> None:
        if self.selected is None:
            return
        col = [b for b in self.visible_blocks() if b.depth == self.selected.depth]
        col.sort(key=lambda b: self._rows[id(b)][0])
        if self.selected in col:
            self._select(col[max(0, min(len(col) - 1, col.index(self.selected) + step))])

    def action_out(self) -> None:
        if self.selected is not None:
            self._select(self.selected.parent)

    def action_into(self) -> None:
        if self.selected is not None:
            seen = set(id(b) for b in self.visible_blocks())
            self._select(next((c for c in self.selected.children if id(c) in seen), None))

    def on_click(self, event) -> None:
        if self._grid and self.view and 0 <= event.y < len(self._grid):
            colw = max(3, self.size.width // max(1, self.view.depth))
            d = min(self.view.depth - 1, event.x // colw)
            cell = self._grid[event.y][d]
            if cell:
                self._select(cell[0])


def describe(view: Multiverse, block: Block | None) -> Text:
    """The selected block's full sequence and its numbers, for the info line."""
    t = Text()
    if block is None:
        t.append("nothing expanded", style="dim")
        return t
    t.append("…" + one_line(view.root_text[-50:], 50), style="dim")
    t.append(visible(block.path_text()) if block.path_text() else "⟨end⟩", style="bold underline")
    t.append(f"\np = {block.prob:.4g} of this view")
    if view.prefix:
        t.append(f", {view.absolute_prob(block):.4g} after the node")
    t.append(f" · this step {block.cond_prob:.1%}")
    if block.entropy_bits is not None:
        t.append(f" · next-token entropy {block.entropy_bits:.2f} bits")
    return t


class ExportScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 80%; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    """
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


class MultiverseScreen(Screen[None]):
    """The block multiverse of one node."""

    DEFAULT_CSS = SCREEN_CSS.format(name="MultiverseScreen")
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
        self._cancel: threading.Event | None = None

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
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = threading.Event()
        prefix = self.view.prefix if prefix is None and self.view is not None else (prefix or ())
        self._title("expanding…")
        self.run_expand(tuple(prefix), self.depth, self.k, self.mass, self._cancel)

    @work(thread=True, exclusive=True, group="multiverse")
    def run_expand(self, prefix, depth, k, mass, cancel: threading.Event) -> None:
        def progress(p: Progress) -> None:
            if not cancel.is_set():
                self.app.call_from_thread(self._title, f"expanding… {p.describe()}")

        try:
            # not stored: zooming makes many views; the one exported is kept (action_export)
            result = multiverse(
                self.session,
                self.backend,
                self.node_id,
                depth,
                k,
                mass,
                prefix=prefix,
                save=False,
                progress=progress,
                cancel=cancel,
            )
        except LoomError as exc:
            self.app.call_from_thread(self.notify, str(exc), title="cannot expand", severity="error", timeout=10)
            return
        if not cancel.is_set():
            self.app.call_from_thread(self._shown, result)

    def _shown(self, result: MultiverseResult) -> None:
        self.result, self.view = result, result.view
        self._cancel = None
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

        self.app.push_screen(ExportScreen(default), done)

    def action_close(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self.dismiss(None)


# -- next-token distribution ----------------------------------------------------
class DistributionScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DistributionScreen { align: center middle; }
    DistributionScreen > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2; }
    DistributionScreen .hint { color: $text-muted; }
    """
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

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"next token {self.where} ({self.backend.name})", style="bold"))
            yield Static(Text("…" + one_line(self.text[-70:], 70), style="dim"))
            yield Static("computing…", id="chart")
            yield Static("+/-: more or fewer tokens   escape: close", classes="hint")

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True)
    def compute(self) -> None:
        try:
            result = distribution(self.session, self.backend, self.node_id, token=self.token, k=self.k)
        except LoomError as exc:
            self.app.call_from_thread(self.query_one("#chart", Static).update, Text(str(exc), style="red"))
            return
        chosen = None if result.sampled is None else result.sampled.token_id
        self.app.call_from_thread(
            self.query_one("#chart", Static).update, distribution_chart(result.distribution, self.theme, chosen)
        )

    def action_k(self, step: int) -> None:
        self.k = max(5, min(100, self.k + step))
        self.compute()

    def action_close(self) -> None:
        self.dismiss(None)


# -- scored candidates ------------------------------------------------------------
def candidates_chart(result: CandidateScores, theme: LoomTheme, rows: int = 20) -> Text:
    t = Text()
    top, top_p = result.top
    t.append(
        "P(candidate as a complete answer: then end-of-text, punctuation or a newline)\n"
        if result.answer == "complete"
        else "P(candidate's text)\n",
        style="dim",
    )
    t.append("top choice ", style="bold")
    t.append(visible(top), style="bold underline")
    t.append(
        f" ({top_p:.1%}) · entropy {result.entropy_bits:.2f} bits of at most {math.log2(len(result.candidates)):.2f}"
        f" · the candidates hold {result.mass:.3g} of the model's probability\n"
    )
    if len(result.candidates) <= 200:
        # The shape in the candidates' own order (0..100 for the preset), one column each.
        peak = max(result.probs)
        levels = " ▁▂▃▄▅▆▇█"
        t.append("in order: ", style="dim")
        t.append(
            "".join(levels[min(8, math.ceil(p / peak * 8))] for p in result.probs),
            style=theme.colors.get("primary", ""),
        )
        t.append(f"  ({visible(result.candidates[0])} … {visible(result.candidates[-1])})\n", style="dim")
    ranked = result.ranked()
    width = min(24, max(len(token_label(c)) for c, _, _ in ranked[:rows]))
    for c, p, _ in ranked[:rows]:
        t.append(f"{token_label(c)[:width]:<{width}} {p:7.2%} ")
        t.append(
            bar_text(p / ranked[0][1]),
            style=theme.palette[theme.bucket(p)]
            if theme.bucket(p) < len(theme.edges)
            else theme.colors.get("primary", ""),
        )
        t.append("\n")
    if len(ranked) > rows:
        t.append(f"… {len(ranked) - rows} more\n", style="dim")
    return t


class CandidatesScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    CandidatesScreen { align: center middle; }
    CandidatesScreen > VerticalScroll { width: 95%; max-width: 140; height: 95%;
        border: thick $primary; background: $surface; padding: 0 2; }
    CandidatesScreen TextArea { height: 6; }
    CandidatesScreen Horizontal { height: auto; }
    CandidatesScreen Input { width: 1fr; }
    CandidatesScreen .hint { color: $text-muted; height: auto; }
    CandidatesScreen #result { height: auto; }
    """
    BINDINGS = [Binding("ctrl+r", "score", "score"), FIGURE_BINDING, Binding("escape", "close", "close", priority=True)]

    def __init__(self, session: Session, backend: Backend, node_id: int, theme: LoomTheme) -> None:
        super().__init__()
        self.backend, self.theme, self.session, self.node_id = backend, theme, session, node_id
        self.text = path_context(session, node_id).text
        self.scored: ScoreResult | None = None

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

    @work(thread=True, exclusive=True)
    def run_score(self, cands: list[str], sep: str | None, end: str, presets: list[str]) -> None:
        try:
            result = score(self.session, self.backend, self.node_id, cands, separator=sep, end=end, presets=presets)
        except LoomError as exc:
            self.app.call_from_thread(self.query_one("#result", Static).update, Text(str(exc), style="red"))
            return
        self.app.call_from_thread(self._show, result)

    def _show(self, result: ScoreResult) -> None:
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
        self.dismiss(None)


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
    t.append(f"{'':<24}{visible(a.model)[:28]:>30}{visible(b.model)[:28]:>30}\n", style="bold")
    for label, vals in rows:
        t.append(f"{label:<24}{vals[0]:>30}{vals[1]:>30}\n")
    return t


class VersusScreen(Screen[None]):
    """The same node on two models: branches, next-token chart and block multiverse side by side."""

    DEFAULT_CSS = (
        SCREEN_CSS.format(name="VersusScreen")
        + """
    VersusScreen #models { height: 3; }
    VersusScreen #models Input { width: 1fr; }
    VersusScreen #summary { height: auto; padding: 0 1; }
    VersusScreen #sides { height: 1fr; }
    VersusScreen .side { width: 1fr; border-right: solid $panel; }
    VersusScreen .side BlockView { height: 1fr; }
    VersusScreen .side VerticalScroll { height: 12; }
    """
    )
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
        self._cancel: threading.Event | None = None

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
        yield Static("", id="summary")
        with Horizontal(id="sides"):
            for side in ("a", "b"):
                with Vertical(classes="side"):
                    yield Static("", id=f"dist-{side}")
                    yield BlockView(self.theme, id=f"blocks-{side}")
                    with VerticalScroll():
                        yield Static("", id=f"branches-{side}")
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
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = threading.Event()
        self.query_one("#summary", Static).update(
            Text(f"loading and running {names[0]} and {names[1]}…", style="italic")
        )
        self.run_both(names, self._cancel)

    @work(thread=True, exclusive=True, group="versus")
    def run_both(self, names: tuple[str, str], cancel: threading.Event) -> None:
        call = self.app.call_from_thread

        def progress(p: Progress) -> None:
            call(
                self.query_one("#summary", Static).update,
                Text(f"running {names[0]} and {names[1]}… {p.describe()}", style="italic"),
            )

        try:
            backends = [open_model(n) for n in names]
            result = compare_models(
                self.session, backends, self.node_id, self.params, cancel=cancel, progress=progress, views=True
            )
        except LoomError as exc:
            call(self.query_one("#summary", Static).update, Text(str(exc), style="red"))
            return
        if not cancel.is_set() and len(result.models) == 2:
            call(self._show, result)

    def _show(self, result: VersusResult) -> None:
        self.result = result
        self._cancel = None
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
        if self._cancel is not None:
            self._cancel.set()
        self.dismiss(None)


# -- the mixin LoomApp takes in ---------------------------------------------------
#: the keys LoomApp adds to its keymap for MultiverseActions ("w": the original loom's "wavefunction")
MULTIVERSE_KEYS: list[Key] = [
    Key(
        "w",
        "multiverse",
        "Block multiverse of this node (zoom, branch, export SVG/PNG)",
        "Multiverse",
        footer=True,
        short="multiverse",
    ),
    Key("d", "distribution", "Next-token distribution at the cursor (or after the node), with entropy", "Multiverse"),
    Key("p", "candidates", "Score candidates after this node (typed, a file, or the numbers 0-100)", "Multiverse"),
    Key("v", "versus", "Model vs model: run this node on two models side by side", "Multiverse"),
]


class MultiverseActions:
    """Actions for LoomApp (which provides session, node_id, backend, model_ref,
    params, loom_theme, show_node, refresh_children, query_one)."""

    def _mv_ready(self) -> bool:
        if self.node_id is None:
            self.notify(f"Write a prompt first ({self.key_for('new_root')}).", timeout=3)
            return False
        if self.backend is None:
            self.notify("The model is still loading (or failed to load: see the status line).", timeout=3)
            return False
        return True

    def _mv_branch_added(self, node: Node) -> None:
        from .panels import TreePanel

        self.query_one(TreePanel).refresh_node(node.parent_id)
        if node.parent_id == self.node_id:
            self.refresh_children()

    def _mv_cursor_place(self) -> tuple[int, int | None]:
        """The node and token under the cursor, else the current node (None: after it)."""
        from .pathview import PathView

        pv = self.query_one(PathView)
        if pv.cursor is not None:
            node, ti = pv.token_at(pv.cursor)
            return node.id, ti
        return self.node_id, None

    def action_multiverse(self) -> None:
        if self._mv_ready():
            self.push_screen(
                MultiverseScreen(
                    self.session, self.node_id, self.backend, self.loom_theme, on_branch=self._mv_branch_added
                )
            )

    def action_distribution(self) -> None:
        if self._mv_ready():
            node_id, token = self._mv_cursor_place()
            self.push_screen(DistributionScreen(self.session, self.backend, node_id, token, self.loom_theme))

    def action_candidates(self) -> None:
        if self._mv_ready():
            self.push_screen(CandidatesScreen(self.session, self.backend, self.node_id, self.loom_theme))

    def action_versus(self) -> None:
        if self._mv_ready():
            mine = self.backend.name
            other = "demo-wedding" if mine != "demo-wedding" else "demo"
            params = self.params.replace(n=min(self.params.n, 4), max_tokens=min(self.params.max_tokens, 32))

            def done(node_id: int) -> None:
                from .panels import TreePanel

                self.query_one(TreePanel).refresh_node(node_id)
                if node_id == self.node_id:
                    self.refresh_children()

            self.push_screen(VersusScreen(self.session, self.node_id, (mine, other), params, self.loom_theme, done))
