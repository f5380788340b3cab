"""The block multiverse widget: nested blocks, a column per token position."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.color import Color
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ..analysis.multiverse import (
    Block,
    Multiverse,
    block_label,
    fit_scale,
    layout,
    short_prob,
)
from ..textsafe import one_line, visible
from ..themes import LoomTheme
from .charts import token_label


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
