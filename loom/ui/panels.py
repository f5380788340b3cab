"""Side panels: the lazy tree outline, the children of the current node, the
token inspector with its alternatives, and the palette legend. All model text
goes in as rich Text built from plain strings, never as markup.

Each panel draws from the app's state (LoomApp's reactive attributes: the
session, the path to the current node, the token under the cursor, the theme...)
and watches what it shows: the app changes its state, never a panel."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import Header, OptionList, Static, Tree
from textual.widgets._header import HeaderClockSpace, HeaderIcon, HeaderTitle
from textual.widgets.option_list import Option
from textual.widgets.tree import UnknownNodeID

from ..store import Session
from ..textsafe import one_line, visible
from ..themes import LoomTheme
from ..tree import Node, Token
from .pathview import set_virtual_size
from .words import plural


class _Title(HeaderTitle):
    """The header's title, redrawn in place: its size never depends on its text (one line,
    the header's width), but Textual's own asks for a layout of the whole screen each time,
    and the title changes on every move (10-20 ms of a key on a large screen)."""

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(content, layout=False)


class LoomHeader(Header):
    """Textual's Header (icon, title, no clock) with a title that does not relayout the screen."""

    def compose(self) -> ComposeResult:
        yield HeaderIcon().data_bind(Header.icon)
        yield _Title()
        yield HeaderClockSpace()


AUTHOR_MARK = {"prompt": "✎", "model": "◆", "edit": "✐", "human": "✎"}


def prob_chip(prob: float | None, theme: LoomTheme) -> Text:
    if prob is None:
        return Text.assemble((" —— ", "dim"))
    b = theme.bucket(prob)
    # a span, not the Text's base style: text appended after the chip stays unstyled
    return Text.assemble((f"{prob:4.0%}", f"{theme.foreground(b)} on {theme.palette[b]}"))


class StatusLine(Static):
    """The status line: the app's `status_text`."""

    def on_mount(self) -> None:
        self.watch(self.app, "status_text", lambda text: self.update(Text(text)))


class Legend(Static):
    DEFAULT_CSS = "Legend { height: 1; padding: 0 1; }"

    def on_mount(self) -> None:
        self.watch(self.app, "loom_theme", self.show)

    def show(self, theme: LoomTheme) -> None:
        t = Text("p(token): ", style="dim")
        for i, color in enumerate(theme.palette):
            t.append(f" {theme.bucket_label(i)} ", style=f"{theme.foreground(i)} on {color}")
            t.append(" ")
        t.append(" human: plain", style="dim")  # fits 80 columns
        self.update(t)


class TreePanel(Tree[int]):
    """The session as an outline. Children load when a node is expanded, so
    huge sessions open at once."""

    DEFAULT_CSS = "TreePanel { width: 34; border-right: solid $panel-lighten-2; }"
    WINDOW = 20  # children shown either side of a revealed path in a wide level
    LEVELS = 16  # a deeper path shows its last levels, under an "↑ N levels above" line

    def __init__(self, session: Session, **kwargs) -> None:
        super().__init__(Text(session.name), **kwargs)
        self.session = session
        self.show_root = False
        self.guide_depth = 2
        self._items: dict[int, object] = {}
        self._more: dict[int, tuple[object, int | None]] = {}  # "… more" line -> (tree item, node id)
        self._top: int | None = None  # the node whose children form the panel's first level
        self.up_line: object | None = None  # the "↑ N levels above" line, when rebased
        self._rows: dict[int, dict] = {}  # node id -> the summary row its line shows
        self._levels: dict[int | None, int] = {}  # node id -> how many children it had when its level loaded
        self._more_count: dict[object, int] = {}  # "… more" line id -> the number it tells

    def on_mount(self) -> None:
        app = self.app
        self.watch(app, "session", lambda session: self.reset(session), init=False)  # (made with the first)
        self.watch(app, "path", self._follow)
        self.watch(app, "grown", self._grown, init=False)
        self.watch(app, "outside", self.catch_up, init=False)

    def _follow(self, path: tuple[Node, ...]) -> None:
        """Highlight the current node, unless the highlight is on it already (chosen
        here); the "↑ levels above" line leads out of what the panel shows."""
        if not path:
            return
        line = self.cursor_node
        if line is not None and line is not self.up_line and line.data == path[-1].id:
            return
        self.reveal([n.id for n in path])

    def _grown(self, parents: tuple[int | None, ...]) -> None:
        for p in parents:
            self.refresh_node(p)

    def get_label_width(self, node) -> int:
        # Tree measures every line whenever it rebuilds; rendering each label for
        # that took seconds on a deep path through wide levels. Same number, no render.
        icon = (self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE) if node.allow_expand else ""
        return cell_len(icon) + node.label.cell_len

    def reset(self, session: Session, top: int | None = None, depth: int = 0) -> None:
        """Show the session from `top`'s children down (None: from the roots);
        `depth` is how many levels lie above them, told on the "↑" line."""
        self.session = session
        self.clear()
        self.root.set_label(Text(session.name))
        self.root.data = top
        self._top = top
        self._items = {top: self.root}
        self._more = {}
        self._rows, self._levels, self._more_count = {}, {}, {}
        self.up_line = None
        if top is not None:
            self.up_line = self.root.add_leaf(
                Text(f"↑ {plural(depth, 'level')} above (enter: go up, r: root)", style="dim"), data=top
            )
        self._fill(self.root, top)

    def _label(self, row: dict) -> Text:
        t = Text(AUTHOR_MARK.get(row["author"], "·") + " ", style="dim")
        t.append(one_line(row["preview"], 40) or "(empty)")
        if row["children"]:
            t.append(f" ({row['children']})", style="dim")
        if not row["complete"]:
            t.append(" ✂", style="bold red")
        return t

    def _fill(self, item, node_id: int | None, around: int | None = None) -> None:
        """Load a node's children. With `around` (a child on a path being
        revealed) a wide level loads only WINDOW children either side of it,
        and a "… more" line that loads the rest when chosen: revealing a deep
        path through wide levels would otherwise load most of a huge session."""
        if item is self.root and self.up_line is not None:
            for child in list(item.children):
                if child is not self.up_line:
                    child.remove()
        else:
            item.remove_children()
        lo, hi, total = 0, None, 0
        if around is not None:
            ids = self.session.child_ids(node_id)
            if len(ids) > 2 * self.WINDOW + 1 and around in ids:
                at = ids.index(around)
                lo, hi, total = max(0, at - self.WINDOW), min(len(ids), at + self.WINDOW + 1), len(ids)
        if lo:
            self._more[item.add_leaf(Text(f"… {lo} earlier", style="dim")).id] = (item, node_id)
        rows = self.session.summaries(node_id, lo, None if hi is None else hi - lo)
        self._add_rows(item, rows)
        self._levels[node_id] = total if hi is not None else lo + len(rows)
        if hi is not None and hi < total:
            line = item.add_leaf(Text(f"… {total - hi} more", style="dim"))
            self._more[line.id] = (item, node_id)
            self._more_count[line.id] = total - hi

    def _add_rows(self, item, rows: list[dict]) -> None:
        for row in rows:
            child = item.add(self._label(row), data=row["id"], allow_expand=bool(row["children"]))
            self._items[row["id"]] = child
            self._rows[row["id"]] = row

    def catch_up(self) -> None:
        """Show nodes another process added: the child count on every loaded line,
        and new children at the end of every loaded level (or in the count of its
        "… more" line). Nothing is removed, collapsed or expanded, so the cursor
        stays on its node (Tree keeps it there when the lines are rebuilt)."""
        items = {}
        for node_id, item in list(self._items.items()):
            try:
                alive = self.get_node_by_id(item.id) is item
            except UnknownNodeID:
                alive = False
            if alive:
                items[node_id] = item
            else:  # a line a refill replaced
                del self._items[node_id]
                self._rows.pop(node_id, None)
                self._levels.pop(node_id, None)
        counts = self.session.child_counts([i for i in items if i is not None])
        if None in items:
            counts[None] = len(self.session.child_ids(None))
        for node_id, item in items.items():
            n = counts.get(node_id, 0)
            row = self._rows.get(node_id)
            if row is not None and row["children"] != n:
                row = self._rows[node_id] = {**row, "children": n}
                item.set_label(self._label(row))
                item.allow_expand = bool(n)
            had = self._levels.get(node_id)
            if had is None or n <= had or (item is not self.root and not item.children):
                continue  # not loaded (it loads when expanded) or nothing new
            self._levels[node_id] = n
            last = item.children[-1] if item.children else None
            if last is not None and last.id in self._more_count:  # the rest loads on request
                self._more_count[last.id] += n - had
                last.set_label(Text(f"… {self._more_count[last.id]} more", style="dim"))
                continue
            shown = {c.data for c in item.children}
            self._add_rows(item, [r for r in self.session.summaries(node_id, had) if r["id"] not in shown])

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        more = self._more.pop(event.node.id, None)
        if more is not None:  # a "… more" line: load the whole level
            item, node_id = more
            self._fill(item, node_id)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        item = event.node
        if item.data is not None and not item.children:
            self._fill(item, item.data)

    def refresh_node(self, node_id: int | None) -> None:
        """Reload a node's children (after new branches were added)."""
        item = self._items.get(node_id)
        if item is None:
            return
        if node_id is not None:
            row = next((r for r in self.session.summaries(self.session.parent_id(node_id)) if r["id"] == node_id), None)
            if row:
                item.set_label(self._label(row))
                item.allow_expand = bool(row["children"])
        if node_id is None or item.is_expanded or not item.children:
            self._fill(item, node_id)
            if node_id is not None:
                item.expand()

    def _rebase(self, ancestry: list[int]) -> int:
        """Where the shown levels start for this path: Textual's Tree draws the
        guides of every level on every line, so a path thousands of nodes deep
        shows only its last LEVELS levels. Returns the index in `ancestry` of
        the first shown level, re-rooting the panel only when that must move."""
        shown = len(ancestry) - (ancestry.index(self._top) + 1 if self._top in ancestry else 0)
        fits = (self._top is None or self._top in ancestry) and shown <= self.LEVELS
        if fits and (self._top is None or shown > self.LEVELS // 2):
            return len(ancestry) - shown
        start = max(0, len(ancestry) - self.LEVELS + 4)  # room to walk down before the next move
        self.reset(self.session, ancestry[start - 1] if start else None, start)
        return start

    def reveal(self, ancestry: list[int]) -> None:
        """Expand the path to a node and move the highlight onto it."""
        top = self._top
        start = self._rebase(ancestry)
        item = self.root
        for depth, node_id in enumerate(ancestry):
            if depth < start:
                continue
            nxt = self._items.get(node_id)
            if nxt is None or nxt.parent is not item:
                self._fill(item, item.data, around=node_id)
                nxt = self._items.get(node_id)
                if nxt is None:
                    return
            if depth < len(ancestry) - 1 and not nxt.is_expanded:
                if not nxt.children:
                    self._fill(nxt, node_id, around=ancestry[depth + 1])
                nxt.expand()
            item = nxt
        if self._top != top:  # re-rooted: the new lines exist after the next refresh
            self.call_after_refresh(self._highlight, item)
        else:
            self._highlight(item)

    def _highlight(self, item) -> None:
        # Tree numbers its lines lazily (on idle or the next render): after a refill
        # or an expand, an item's line number is stale or -1 until then, and the
        # cursor would land on another node (or none). last_line numbers them now.
        try:
            if self.last_line < 0 or self.get_node_by_id(item.id) is not item:
                return
        except UnknownNodeID:  # a line a later refill replaced: a newer reveal moves the cursor
            return
        self.move_cursor(item, animate=False)
        self.scroll_to_node(item, animate=False)


class ChildOption(Option):
    """A child's line, its prompt made when it is first drawn: of a thousand
    children only the few on screen are ever built."""

    def __init__(self, row: dict, theme: LoomTheme, first_of_group: bool) -> None:
        super().__init__("", id=str(row["id"]))
        self._row: dict | None = row
        self._args = (theme, first_of_group)

    @property
    def prompt(self):
        if self._row is not None:
            self._prompt, self._row = child_prompt(self._row, *self._args), None
        return self._prompt


def child_prompt(row: dict, theme: LoomTheme, first_of_group: bool) -> Text:
    t = Text()
    group = row.get("group")  # (cluster, size) when grouped by meaning
    if group is not None:
        t.append(
            f"{'×' + str(group[1]) if first_of_group else '':>4} " if group[1] > 1 else "     ",
            style="bold" if first_of_group else "dim",
        )
    t.append_text(prob_chip(row["mean_prob"], theme))
    t.append(f" {AUTHOR_MARK.get(row['author'], '·')} ", style="dim")
    t.append(one_line(row["preview"], 200) or "(empty)")
    if row["children"]:
        t.append(f"  ({row['children']})", style="dim")
    if not row["complete"]:
        t.append("  incomplete", style="bold red")
    return t


class ChildrenList(OptionList):
    """The children of the current node: preview and mean token probability.
    While generating, live branches show here as they stream."""

    # many children: one line a row, cut with an ellipsis (see _update_lines)
    DEFAULT_CSS = """
    ChildrenList { height: 1fr; border: round $panel-lighten-2; }
    ChildrenList.-one-line { text-wrap: nowrap; text-overflow: ellipsis; }
    """
    ONE_LINE = 100  # with more children than this, a row is one line

    def __init__(self, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.border_title = "children"
        self.rows: list[dict] = []  # the rows shown
        self._theme: LoomTheme | None = None

    def on_mount(self) -> None:
        app = self.app
        for name in ("path", "grown", "outside", "live", "group_siblings", "loom_theme"):
            self.watch(app, name, self._draw, init=False)
        self._draw()

    def _draw(self) -> None:
        """The current node's children (re-read: a move, new branches, a new grouping)."""
        app = self.app
        self.show(app.child_rows(app.session, app.node_id), app.loom_theme, app.live_here())

    def show(self, rows: list[dict], theme: LoomTheme, live: dict[int, str] | None = None) -> None:
        keep = self.highlighted
        if rows == self.rows and self.option_count >= len(rows) and self._theme is theme:
            # the same children (a generation tick, a poll): only the live lines change;
            # rebuilding re-measures every row, seconds with a thousand children
            self._show_live(live)
            return
        self.rows = rows
        self._theme = theme
        self.set_class(len(rows) > self.ONE_LINE, "-one-line")
        options: list[Option] = []  # set in one call: one at a time re-measures the list for each
        last_group = None
        for row in rows:
            group = row.get("group")  # (cluster, size) when grouped by meaning
            first = group is not None and group[0] != last_group
            last_group = group[0] if group is not None else None
            options.append(ChildOption(row, theme, first))
        options += [
            Option(self._live_prompt(text), id=f"live-{b}", disabled=True) for b, text in sorted((live or {}).items())
        ]
        self.set_options(options)
        self.border_title = f"children ({len(rows)})" + (f" + {len(live)} generating" if live else "")
        if rows:
            self.highlighted = keep if keep is not None and keep < len(rows) else 0

    def _update_lines(self) -> None:
        """With many children every row is one line (no wrapping, no dividers), so the
        rows are counted rather than measured: OptionList renders every option to find
        its height, which with a thousand children took most of a move's time. Only the
        rows on screen are rendered. A few children wrap, showing more of each."""
        if not self.has_class("-one-line"):
            super()._update_lines()
            return
        if not self.scrollable_content_region:
            return
        cache = self._line_cache
        for index in range(len(cache.lines), len(self.options)):
            cache.index_to_line[index] = index
            cache.heights[index] = 1
            cache.lines.append((index, 0))
        set_virtual_size(
            self, Size(self.scrollable_content_region.width - self._get_left_gutter_width(), len(cache.lines))
        )

    @staticmethod
    def _live_prompt(text: str) -> Text:
        t = Text(" …  ", style="dim")
        t.append(one_line(text, 200), style="italic")
        return t

    def _show_live(self, live: dict[int, str] | None) -> None:
        """Bring the live lines (after the rows) up to date, touching no row."""
        live = live or {}
        wanted = [f"live-{b}" for b in sorted(live)]
        shown = [self.get_option_at_index(i).id for i in range(len(self.rows), self.option_count)]
        if shown != wanted:  # a branch started or finished: the live lines again, in order
            for option_id in shown:
                self.remove_option(option_id)
            self.add_options([Option(self._live_prompt(live[b]), id=f"live-{b}", disabled=True) for b in sorted(live)])
        else:
            for b in sorted(live):
                self.replace_option_prompt(f"live-{b}", self._live_prompt(live[b]))
        self.border_title = f"children ({len(self.rows)})" + (f" + {len(live)} generating" if live else "")


class TokenInfo(OptionList):
    """The token under the cursor and its top-k alternatives; Enter picks one."""

    DEFAULT_CSS = "TokenInfo { height: 1fr; border: round $panel-lighten-2; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.border_title = "token"
        self.token: Token | None = None

    def on_mount(self) -> None:
        for name in ("token", "loom_theme"):
            self.watch(self.app, name, self._draw)

    def _draw(self) -> None:
        place = self.app.token
        if place is None:
            self.show(None, self.app.loom_theme)
        else:
            node, ti = place
            self.show(node.tokens[ti], self.app.loom_theme, f"· node {node.id} #{ti}")

    def show(self, token: Token | None, theme: LoomTheme, where: str = "") -> None:
        # the options are set in one call: one at a time, each one re-measured the list and
        # asked for a layout of the whole screen (eleven on every key that moves the cursor)
        self.token = token
        if token is None:
            self.border_title = "token"
            self.set_options(
                [Option(Text("Move the cursor onto a model token (. and ,) or click one.", style="dim"), disabled=True)]
            )
            return
        p = "?" if token.prob is None else f"{token.prob:.2%}"
        lp = "" if token.logprob is None else f" (logprob {token.logprob:.3f})"
        kind = "raw" if token.raw else "after sampling"
        # Content, not a str: a str border title is parsed as markup, and token text is data
        self.border_title = Content(f"token {visible(repr(token.text))} p={p}{lp} {kind} {where}")
        options = []
        if not token.alternatives:
            options.append(Option(Text("no alternatives recorded for this token", style="dim"), disabled=True))
        for i, alt in enumerate(token.alternatives):
            bar = "█" * max(1, round(alt.prob * 20)) if alt.prob >= 0.005 else "▏"
            t = prob_chip(alt.prob, theme)
            t.append(f" {bar:<20} ", style=theme.colors.get("primary", ""))
            t.append(visible(repr(alt.text)))
            if alt.text == token.text and (alt.token_id is None or alt.token_id == token.token_id):
                t.append("  ← chosen", style="bold")
            options.append(Option(t, id=str(i)))
        self.set_options(options)
