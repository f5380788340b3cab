"""The current path as one text, every model token's background coloured by
its probability. Rendered through Textual's Line API: lines are laid out once
per width and their strips cached, so long paths scroll without re-rendering.
A long path shows its end first: the nodes on screen are laid out (and their
tokens decoded) at once, the whole path a little at a time between keys (_layout)."""

from __future__ import annotations

import gc
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..textsafe import visible
from ..themes import LoomTheme
from ..tree import Node

_WORDS = re.compile(r"\S+\s*|\s+")
FREEZE_TOKENS = 10_000  # a path longer than this is laid out, then its objects are frozen (see _layout)
LAZY_CHARS = 20_000  # a path with more characters than this to lay out shows its end first (see _layout)
GROW_SECONDS = 0.01  # the rest of such a path is laid out in steps this long, between keys
GROW_QUIET = 0.1  # ...and none begins until this long after the last key (a key's answer goes first)


@dataclass(frozen=True)
class Piece:
    text: str  # already made visible; no newlines
    token: int | None  # index into PathView.tokens, or None for human text
    bucket: int | None


class TokenIndex(Sequence[tuple[int, int]]):
    """(node index, token index) of every model token on the path, from where each
    node's tokens start: a move changes one node, and nothing is built per token."""

    def __init__(self, starts: list[int]) -> None:
        self.starts = starts  # first token number of each node, and the total at the end

    def __len__(self) -> int:
        return self.starts[-1] if self.starts else 0

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        ni = (
            bisect_right(self.starts, i) - 1
        )  # the last node starting at or before i: nodes without tokens share a start
        return ni, i - self.starts[ni]

    def index(self, value, start: int = 0, stop: int | None = None) -> int:
        ni, ti = value
        if 0 <= ni < len(self.starts) - 1 and 0 <= ti < self.starts[ni + 1] - self.starts[ni]:
            return self.starts[ni] + ti
        raise ValueError(value)


class TokenLines:
    """The line each model token starts on, kept per node (see TokenIndex); from
    token `first` on (a long path shows its end first: the tokens above have no line yet)."""

    def __init__(self, index: TokenIndex, per_node: list[list[int]], first: int = 0) -> None:
        self.index, self.per_node, self.first = index, per_node, first

    def __contains__(self, token: object) -> bool:
        return isinstance(token, int) and self.first <= token < len(self.index)

    def __getitem__(self, token: int) -> int:
        ni, ti = self.index[token]
        return self.per_node[ni][ti]

    def get(self, token: int, default: int | None = None) -> int | None:
        return self[token] if token in self else default

    def as_dict(self) -> dict[int, int]:
        return {t: self[t] for t in range(self.first, len(self.index))}


class PathView(ScrollView, can_focus=True):
    """Shows a list of nodes; keeps a token cursor."""

    inherit_bindings = False
    BINDINGS = [
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]
    DEFAULT_CSS = """
    PathView { height: 1fr; padding: 0 1; }
    """

    class TokenClicked(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, theme: LoomTheme, last_key: Callable[[], float] | None = None, **kwargs) -> None:
        """`last_key`: when the last key came (time.monotonic), for laying out a long path between keys."""
        super().__init__(**kwargs)
        self.loom_theme = theme
        self._last_key = last_key
        self.nodes: list[Node] = []
        self.tokens = TokenIndex([0])  # (node index, token index) per model token on the path
        self.cursor: int | None = None
        self._lines: list[list[Piece]] = []  # the lines shown
        self._node_lines: list[list[int]] = []  # per node, the line each of its tokens starts on
        self._token_line = TokenLines(self.tokens, self._node_lines)
        self._strips: dict[int, Strip] = {}
        self._width = 0
        # The layout of the whole path, as far as it has gone (all of it, but while a long
        # path is laid out a little at a time): its lines, the line of each token per node,
        # and where each node starts, (line, pieces on that line, cells used, first token),
        # one more than the nodes laid out. A new path that keeps the first nodes of the old
        # one is laid out from where they end.
        self._full_lines: list[list[Piece]] = []
        self._full_node_lines: list[list[int]] = []
        self._marks: list[tuple[int, int, int, int]] = []
        # while the whole path is being laid out: the lines shown are those of its last
        # nodes from this one on, laid out on their own (0: the whole path is shown)
        self._head = 0
        self._growing = 0  # a number for each layout begun: a step of an older one stops
        self._freeze = False  # the layout being made is of a whole long path: frozen when done
        self._reveal_pending = False  # asked to reveal before the view had its size
        self._retired: list[object] = []  # an old layout waiting to be freed (see _retire)
        self._layout_pending = False  # given nodes before the view had its size: laid out once it has
        #: extra styles of tokens (a forks run's marks), by (node id, token index): wherever those nodes are on the path
        self.token_marks: dict[tuple[int, int], Style] = {}

    def on_mount(self) -> None:
        # drawn from the app's state: the path to the current node, the token cursor, the theme
        self.watch(self.app, "path", self._follow_path)
        self.watch(self.app, "cursor", self.move_cursor, init=False)
        self.watch(self.app, "loom_theme", self.set_theme, init=False)

    def _follow_path(self, path: tuple[Node, ...]) -> None:
        self.set_nodes(list(path), getattr(self.app, "cursor", None))
        self.reveal()

    # -- data ----------------------------------------------------------------
    def set_nodes(self, nodes: list[Node], cursor: int | None = None) -> None:
        # the leading nodes the old path shares with the new one keep their lines
        keep = 0
        for old, new in zip(self.nodes, nodes):
            if old is not new and (
                old.id != new.id or old.text != new.text or not _same_layout(old.tokens, new.tokens)
            ):
                break
            keep += 1
        self._retire(self.nodes)  # the old path's nodes and their tokens
        self.nodes = nodes
        starts = self.tokens.starts[: keep + 1]
        for n in nodes[keep:]:
            starts.append(starts[-1] + n.token_count())  # without decoding them
        self.tokens = TokenIndex(starts)
        self.cursor = cursor if cursor is not None and 0 <= cursor < len(self.tokens) else None
        if not self.size.width:  # not laid out yet (the app opening): once, at the width it gets
            self._layout_pending, self._marks = True, []
        else:
            self._layout(force=True, keep=keep)
        self.refresh()

    def set_theme(self, theme: LoomTheme) -> None:
        self.finish_layout()  # in the old colours: laid out again at the next layout
        self.loom_theme = theme
        self._marks = []  # token colours were laid out with the old theme's buckets
        self._strips.clear()
        self.refresh()

    def set_marks(self, marks: dict[tuple[int, int], Style]) -> None:
        """Style these tokens on top of their colours; {} removes every mark."""
        self.token_marks = dict(marks)
        self._strips.clear()
        self.refresh()

    def token_at(self, index: int):
        ni, ti = self.tokens[index]
        return self.nodes[ni], ti

    def move_cursor(self, index: int | None) -> None:
        old = self.cursor
        self.cursor = index
        if index is not None and index not in self._token_line and 0 <= index < len(self.tokens):
            self.finish_layout()  # above the last nodes of a long path, not laid out yet
        for tok in (old, index):
            if tok is not None and tok in self._token_line:
                self._strips.pop(self._token_line[tok], None)
        if index is not None and index in self._token_line:
            y = self._token_line[index]
            if not self.scroll_offset.y <= y < self.scroll_offset.y + self.scrollable_content_region.height:
                self.scroll_to(y=max(0, y - self.scrollable_content_region.height // 2), animate=False)
        self.refresh()

    def reveal(self) -> None:
        """Scroll to the cursor's line, or to the end of the path when there is no
        cursor. A view not laid out yet (the app opening) does it once it has its size."""
        if not self.scrollable_content_region.height:
            self._reveal_pending = True
            return
        self._reveal_pending = False
        if self.cursor is not None:
            self.move_cursor(self.cursor)
        else:
            self.scroll_end(animate=False, immediate=True)

    # -- layout --------------------------------------------------------------
    def _pieces(self, node: Node, tok: int):
        """Yield Piece or None (a line break) for one node whose first token is number `tok`."""
        if node.tokens:
            for t in node.tokens:
                bucket = None if t.prob is None else self.loom_theme.bucket(t.prob)
                yield from self._split(t.text, tok, bucket)
                tok += 1
        else:
            yield from self._split(node.text, None, None)

    @staticmethod
    def _split(text: str, token: int | None, bucket: int | None):
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i:
                yield None
            if not part:
                continue
            if token is None:
                for m in _WORDS.finditer(visible(part)):
                    yield Piece(m.group(), None, None)
            else:
                yield Piece(visible(part), token, bucket)

    def _layout(self, force: bool = False, keep: int = 0) -> None:
        """Lay the path out in lines of the view's width; `keep` first nodes are
        unchanged since the last layout and are not laid out again.

        A long path (more than LAZY_CHARS characters to lay out) shows its end
        first: its last nodes (two screens and more, from a node after a line
        break where one is near, so that their lines are those of the whole path)
        are laid out on their own and shown at once, and the whole path is laid
        out in steps of GROW_SECONDS between keys, then shown in their place at
        the same place on screen. Only those nodes' tokens are decoded before the
        first screen (a session's nodes decode their tokens when first read)."""
        width = self._layout_width()
        if not force and width == self._width and not self._layout_pending:
            return
        self._layout_pending = False
        if width != self._width or not self._marks:
            keep = 0
        else:
            keep = min(keep, len(self._marks) - 1)  # the whole path's layout may not have got that far
        shown_whole = not self._head
        self._width = width
        self._growing += 1
        self._retire(self._full_lines, self._full_node_lines, self._marks)  # freed once the new one shows
        if keep:
            line, count, _, _ = self._marks[keep]
            lines = self._full_lines[: line + 1]
            lines[-1] = lines[-1][:count]
            self._full_lines, self._full_node_lines = lines, self._full_node_lines[:keep]
            self._marks = self._marks[: keep + 1]
        else:
            self._full_lines, self._full_node_lines, self._marks = [[]], [], [(0, 0, 0, 0)]
            self._freeze = len(self.tokens) > FREEZE_TOKENS
        head = self._tail_start(width, keep)
        if head is None:
            self._lay_nodes(self._full_lines, self._full_node_lines, self._marks, width)
            self._head = 0  # a new layout: the view is placed by the caller (reveal)
            self._show_whole(keep if shown_whole else 0)
            return
        # the last nodes on their own, shown now; the whole path a step at a time
        lines: list[list[Piece]] = [[]]
        node_lines: list[list[int]] = [[] for _ in range(head)]
        self._lay_nodes(lines, node_lines, [(0, 0, 0, self.tokens.starts[head])], width)
        self._retire(self._lines, self._node_lines, self._token_line)
        self._lines, self._node_lines, self._head = lines, node_lines, head
        self._token_line = TokenLines(self.tokens, node_lines, self.tokens.starts[head])
        self._strips.clear()
        set_virtual_size(self, Size(width, len(lines)))
        self._grow_later(self._growing)

    def _tail_start(self, width: int, keep: int) -> int | None:
        """The first of the last nodes to show before the rest of a long path is laid
        out (see _layout); None: lay it all out now."""
        nodes = self.nodes
        if sum(len(n.text) for n in nodes[keep:]) <= LAZY_CHARS:
            return None
        height = self.scrollable_content_region.height or self.size.height or 50
        want = max(2 * width * height, 4_000)
        head, chars = len(nodes), 0
        while head > keep and chars < want:
            head -= 1
            chars += len(nodes[head].text)
        if self.cursor is not None:  # the cursor is on screen: its node is laid out
            head = min(head, self.tokens[self.cursor][0])
        for h in range(head, max(keep, head - 16), -1):  # a node after a line break starts a line of the whole path
            if h and nodes[h - 1].text.endswith("\n"):
                head = h
                break
        if sum(len(n.text) for n in nodes[keep:head]) <= LAZY_CHARS:  # not worth it
            return None
        return head

    def _lay_nodes(
        self,
        lines: list[list[Piece]],
        node_lines: list[list[int]],
        marks: list[tuple[int, int, int, int]],
        width: int,
        deadline: float | None = None,
    ) -> None:
        """Lay out the nodes from len(node_lines) on, after `lines` (whose last node ended
        at marks[-1]), to the end of the path or until `deadline` (time.perf_counter)."""
        starts = self.tokens.starts
        used = marks[-1][2]
        for ni in range(len(node_lines), len(self.nodes)):
            first = starts[ni]
            at = len(lines) - 1
            token_line: dict[int, int] = {}
            used = self._lay_node(self.nodes[ni], first, width, lines, used, token_line)
            # an empty token (a partial character) still needs a line for the cursor
            per = []
            for t in range(first, starts[ni + 1]):
                at = token_line.get(t, at)
                per.append(at)
            node_lines.append(per)
            marks.append((len(lines) - 1, len(lines[-1]), used, starts[ni + 1]))
            if deadline is not None and time.perf_counter() > deadline:
                return

    def _show_whole(self, keep: int = 0) -> None:
        """Show the layout of the whole path; `keep`: the lines above its first
        changed node are drawn as they were. After its last nodes alone (see _layout),
        the view stays on the same text."""
        tail_at = self._marks[self._head][0] if self._head else 0  # where those nodes start in the whole path
        self._retire(self._lines, self._node_lines, self._token_line)  # those shown until now
        self._lines, self._node_lines, self._head = self._full_lines, self._full_node_lines, 0
        self._token_line = TokenLines(self.tokens, self._node_lines)
        if keep:  # the lines above the first changed one are drawn as they were
            self._strips = {y: strip for y, strip in self._strips.items() if y < self._marks[keep][0]}
        else:
            self._strips.clear()
        if self._freeze:
            # A long path is millions of objects that live as long as it shows, and
            # the collector's full passes walked them all: 0.6 s, landing on a key.
            # Frozen, those passes skip them (they are still freed by reference count).
            self._freeze = False
            gc.freeze()
        set_virtual_size(self, Size(self._width, len(self._lines)))
        if tail_at:
            self.scroll_to(y=self.scroll_offset.y + tail_at, animate=False, immediate=True)
        self.refresh()

    def _grow_later(self, growing: int, delay: float = 0.001) -> None:
        self.set_timer(delay, lambda: self._grow(growing))

    def _grow(self, growing: int) -> None:
        """One step of laying out the whole path (see _layout)."""
        if growing != self._growing or not self._head:  # a newer layout began
            return
        if self._last_key is not None:
            wait = self._last_key() + GROW_QUIET - time.monotonic()
            if wait > 0:  # a key came: its answer (and the screen showing it) goes first
                self._grow_later(growing, wait)
                return
        self._lay_nodes(
            self._full_lines, self._full_node_lines, self._marks, self._width, time.perf_counter() + GROW_SECONDS
        )
        if len(self._full_node_lines) < len(self.nodes):
            self._grow_later(growing)
        else:
            self._show_whole()

    def finish_layout(self) -> None:
        """Lay out the rest of a long path now, and show all of it."""
        if self._head:
            self._growing += 1
            self._lay_nodes(self._full_lines, self._full_node_lines, self._marks, self._width)
            self._show_whole()

    def action_scroll_home(self) -> None:
        self.finish_layout()
        super().action_scroll_home()

    def action_page_up(self) -> None:
        if self.scroll_offset.y < 2 * self.scrollable_content_region.height:
            self.finish_layout()
        super().action_page_up()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._head and new_value < old_value and new_value < self.scrollable_content_region.height:
            self.call_later(self.finish_layout)  # scrolled up to the top of the last nodes (the mouse)

    def _retire(self, *old: object) -> None:
        """Free an old layout after the screen has shown the new one. Leaving a 100,000-token
        path for a short one drops a million small objects, which took 15-20 ms of the key
        press when freed at once; a moment later nobody waits for them."""
        if not self.is_mounted:
            return
        if not self._retired:
            self.set_timer(0.25, self._retired.clear)
        self._retired.append(old)

    def _layout_width(self) -> int:
        """The width to lay out at. A path longer than the view will show a scrollbar,
        which narrows it: laid out at the full width first, a long path was laid
        out twice as it opened. So a path whose text cannot fit is laid out for the
        scrollbar from the start (watch_show_vertical_scrollbar corrects a wrong guess)."""
        width = self.scrollable_content_region.width or self.size.width or 80
        if not self.show_vertical_scrollbar and self.styles.overflow_y == "auto":
            height = self.scrollable_content_region.height or self.size.height
            chars = 0
            for node in self.nodes:
                chars += len(node.text)
                if height and chars > width * height:
                    width -= self.styles.scrollbar_size_vertical
                    break
        return max(10, width)

    def watch_show_vertical_scrollbar(self) -> None:
        if self._width and self._layout_width() != self._width:
            self._layout()
            self.refresh()

    def _lay_node(
        self, node: Node, first: int, width: int, lines: list[list[Piece]], used: int, token_line: dict[int, int]
    ) -> int:
        """Append one node's pieces to `lines`; returns the cells used on the last line."""
        for piece in self._pieces(node, first):
            if piece is None:
                lines.append([])
                used = 0
                continue
            w = cell_len(piece.text)
            if used + w > width and used > 0:
                lines.append([])
                used = 0
            if w > width:  # a piece wider than the view: cut it into lines, in one pass
                *heads, rest = _cut(piece.text, width - used, width)
                for head in heads:
                    lines[-1].append(Piece(head, piece.token, piece.bucket))
                    if piece.token is not None:
                        token_line.setdefault(piece.token, len(lines) - 1)
                    lines.append([])
                used = 0
                piece = Piece(rest, piece.token, piece.bucket)
                w = cell_len(rest)
            lines[-1].append(piece)
            if piece.token is not None:
                token_line.setdefault(piece.token, len(lines) - 1)
            used += w
        return used

    def on_resize(self) -> None:
        self._layout()
        if self._reveal_pending:
            self.reveal()

    # -- drawing -------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        line_no = self.scroll_offset.y + y
        if line_no >= len(self._lines):
            return Strip.blank(self.size.width, self.rich_style)
        strip = self._strips.get(line_no)
        if strip is None:
            strip = self._strips[line_no] = self._render(line_no)
        return strip.crop_extend(0, self.size.width, self.rich_style)

    def _render(self, line_no: int) -> Strip:
        theme = self.loom_theme
        base = self.rich_style
        segs = []
        for piece in self._lines[line_no]:
            if piece.bucket is not None:
                style = base + Style(bgcolor=theme.palette[piece.bucket], color=theme.foreground(piece.bucket))
            else:
                style = base
            if piece.token is not None and self.token_marks:
                ni, ti = self.tokens[piece.token]
                mark = self.token_marks.get((self.nodes[ni].id, ti))
                if mark is not None:
                    style = style + mark
            if piece.token is not None and piece.token == self.cursor:
                style = style + Style(reverse=True, bold=True, underline=True)
            segs.append(Segment(piece.text, style))
        return Strip(segs)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line_no = self.scroll_offset.y + offset.y
        if line_no >= len(self._lines):
            return
        x = 0
        for piece in self._lines[line_no]:
            w = cell_len(piece.text)
            if x <= offset.x < x + w:
                if piece.token is not None:
                    self.post_message(self.TokenClicked(piece.token))
                return
            x += w


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """A scroll view's virtual size, without the layout of the whole screen that setting
    `virtual_size` asks for (it is a layout reactive): the view's own size does not
    depend on what it holds, and a screen layout repaints every widget, on every key.
    Textual does the same when a widget's size is updated without layout."""
    if size != view.virtual_size:
        view.set_reactive(ScrollView.virtual_size, size)
        view._scroll_update(size)
        view.refresh()


def _same_layout(a, b) -> bool:
    """Whether two token lists lay out the same: by identity (a session hands out
    the same Token objects), else by text and probability only, all a line uses.
    Comparing Tokens by value would build every lazy alternative on the path."""
    if a is b:
        return True
    if a is None or b is None or len(a) != len(b):
        return not a and not b
    return all(x is y or (x.text == y.text and x.logprob == y.logprob) for x, y in zip(a, b))


def _cut(text: str, first: int, width: int) -> list[str]:
    """`text` in pieces of at most `first`, then `width` cells (at least one
    character each). One pass, so a 1 MB line takes well under a second."""
    if text.isascii():  # visible() left no control characters: one cell each
        return (
            [text[:first]] + [text[i : i + width] for i in range(first, len(text), width)]
            if len(text) > first
            else [text]
        )
    out, start, used, limit = [], 0, 0, first
    for i, ch in enumerate(text):
        w = cell_len(ch)
        if used + w > limit and i > start:
            out.append(text[start:i])
            start, used, limit = i, 0, width
        used += w
    out.append(text[start:])
    return out
