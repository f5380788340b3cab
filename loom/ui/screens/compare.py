"""Two continuations side by side: shared runs underlined, the divergence and the
reconvergence marked, each token coloured by its probability. Model text goes in
as rich Text built from plain strings made visible with textsafe, never as markup."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from ...analysis.align import LEVELS, Alignment, Piece, align, units
from ...experiments.compare import Comparison
from ...textsafe import visible
from ...themes import LoomTheme
from .base import ResultScreen

SHARED = Style(underline=True, bold=True)


DIVERGE_MARK, RECONVERGE_MARK = "\u25c6", "\u25cf"  # ◆ ●


def piece_style(piece: Piece, theme: LoomTheme) -> Style:
    if piece.prob is None:
        return Style()
    b = theme.bucket(piece.prob)
    return Style(bgcolor=theme.palette[b], color=theme.foreground(b))


def compared_text(pieces: list[Piece], spans: list, theme: LoomTheme, marks: dict[int, tuple[str, Style]]) -> Text:
    """One side of a comparison: each token coloured by its probability, the
    shared runs (`spans`, character offsets in the plain text) underlined, and a
    glyph inserted before each marked offset."""
    text = Text()
    needed = {s for s, _ in spans} | {e for _, e in spans}
    vis_at: dict[int, int] = {}
    pos = 0
    for p in pieces:
        style = piece_style(p, theme)
        buf: list[str] = []
        for ch in p.text:
            if pos in marks or pos in needed:
                if buf:
                    text.append("".join(buf), style)
                    buf = []
                if pos in marks:
                    glyph, mstyle = marks[pos]
                    text.append(glyph, mstyle)
                vis_at[pos] = len(text)
            buf.append(visible(ch))
            pos += 1
        if buf:
            text.append("".join(buf), style)
    if pos in marks:
        glyph, mstyle = marks[pos]
        text.append(glyph, mstyle)
    vis_at[pos] = len(text)
    for s, e in spans:
        if s in vis_at and e in vis_at:
            text.stylize(SHARED, vis_at[s], vis_at[e])
    return text


def alignment_lines(al: Alignment) -> Text:
    """The numbers of a comparison, plain."""
    t = Text()
    status = {
        "identical": "identical: nothing diverged",
        "reconverged": "RECONVERGED",
        "diverged": "did not reconverge",
    }[al.status]
    t.append(status, Style(bold=True))
    if al.status != "identical":
        t.append(f"  · diverge at {al.level} {al.divergence}")
        if al.reconvergence:
            i, j = al.reconvergence
            t.append(
                f"  · reconverge at {i} / {j} (first shared run of \u2265{al.k}); "
                f"{al.shared_after:.0%} of A after it is shared"
            )
        else:
            t.append(f"  · no shared run of {al.k} {al.level}s after the divergence")
    t.append(
        f"\nlongest common run {al.longest_run['size']} {al.level}s · shared ending {al.shared_ending['size']} "
        f"· last sentences {al.last_sentence_similarity:.0%} similar · overall {al.similarity:.0%}"
    )
    return t


class CompareScreen(ResultScreen[int | None]):
    """Two continuations side by side. Returns a node id to go to, or None."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("plus,equals_sign", "run(1)", "Run +1"),
        Binding("minus", "run(-1)", "Run -1"),
        Binding("w", "level", "Tokens/words"),
        Binding("a", "go('a')", "Go to A"),
        Binding("b", "go('b')", "Go to B"),
    ]

    def __init__(self, comparison: Comparison, theme: LoomTheme, record_id: int | None = None, title: str = "") -> None:
        super().__init__()
        self.comp = comparison
        self.theme = theme
        self.record_id = record_id
        self.heading = title or f"Compare node {comparison.a} (A) with node {comparison.b} (B)"
        self.al = comparison.alignment
        self.level = "auto"

    def compose(self) -> ComposeResult:
        yield Static(id="title", classes="title")
        yield Static(id="numbers", classes="info")
        with Horizontal(id="sides"):
            with VerticalScroll(classes="side", id="side-a"):
                yield Static(id="text-a")
            with VerticalScroll(classes="side", id="side-b"):
                yield Static(id="text-b")
        hint = Text()
        hint.append("underlined", SHARED)
        hint.append(" = shared run · ")
        hint.append(DIVERGE_MARK, Style(bold=True, color="red"))
        hint.append(" divergence · ")
        hint.append(RECONVERGE_MARK, Style(bold=True, color="green"))
        hint.append(
            " reconvergence · token background = probability · +/- run length · w tokens/words · a/b go to node"
        )
        yield Static(hint, classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    def _marks(self, pieces: list[Piece], side: int) -> dict[int, tuple[str, Style]]:
        al = self.al
        marks: dict[int, tuple[str, Style]] = {}
        us = units(pieces, al.level)
        if al.divergence is not None:
            at = us[al.divergence].content_start if al.divergence < len(us) else sum(len(p.text) for p in pieces)
            marks[at] = (DIVERGE_MARK, Style(bold=True, color="red"))
        if al.reconvergence_char:
            marks[al.reconvergence_char[side]] = (RECONVERGE_MARK, Style(bold=True, color="green"))
        return marks

    def _show(self) -> None:
        c, al = self.comp, self.al
        title = Text(self.heading, Style(bold=True))
        if c.perturbation:
            title.append(f"  (after the perturbation: node {c.perturbation[0]} \u2192 {c.perturbation[1]})")
        if self.record_id is not None:
            title.append(f"  · record {self.record_id}")
        self.query_one("#title", Static).update(title)
        self.query_one("#numbers", Static).update(alignment_lines(al))
        for side, pieces, spans, nodes, box in (
            (0, c.a_pieces, al.a_spans, c.a_nodes, "a"),
            (1, c.b_pieces, al.b_spans, c.b_nodes, "b"),
        ):
            self.query_one(f"#text-{box}", Static).update(
                compared_text(pieces, spans, self.theme, self._marks(pieces, side))
            )
            self.query_one(
                f"#side-{box}"
            ).border_title = f"{box.upper()}: node{'s' if len(nodes) > 1 else ''} {', '.join(map(str, nodes))}"

    def _realign(self, k: int, level: str) -> None:
        try:
            self.al = align(self.comp.a_pieces, self.comp.b_pieces, k, level)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", timeout=4)
            return
        self.level = level
        self._show()

    def action_run(self, step: int) -> None:
        self._realign(max(1, self.al.k + step), self.level)

    def action_level(self) -> None:
        order = [lv for lv in LEVELS if lv != "auto"]
        nxt = order[(order.index(self.al.level) + 1) % len(order)]
        self._realign(self.al.k, nxt)

    def action_go(self, side: str) -> None:
        self.dismiss(self.comp.a if side == "a" else self.comp.b)

    def action_close(self) -> None:
        self.dismiss(None)
