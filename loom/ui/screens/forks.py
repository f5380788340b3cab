"""The forking-tokens screens: the form that asks for the attractor and the
settings, and the screen that runs experiments.forks on a path as a job (its own
cancel and progress with time left) and lists the positions with their rate
bars; `path_marks` turns a result into the marks the path view shows
(loom/ui/forks.py opens them for the app's current path).

Model text goes in as rich Text from plain strings made visible with textsafe,
never as markup."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Footer, Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from ...textsafe import visible
from ...tree import GenerationParams
from ..jobs import Job, screen_job
from ..words import plural
from .base import Dialog, ResultScreen

# the experiment (and the analysis it draws on) is imported when the tool opens, not with the app
if TYPE_CHECKING:
    from ...experiments.base import Cancel, Progress, ProgressFn
    from ...experiments.forks import ForksResult
    from ...experiments.models import Backend
    from ...store import Session

UNNAMED = "attractor"  # the name of an attractor given as a bare regular expression
FORK_MARK, NO_RETURN_MARK = "\u25c6", "\u25cf"  # ◆ ●
#: on the path view: a forking token, the point of no return, and the basin after it
# styles only (no colour): the token's background already shows its probability
FORK_STYLE = Style(bold=True, underline=True)
NO_RETURN_STYLE = Style(bold=True, overline=True)
BASIN_STYLE = Style(italic=True)


def path_marks(result: ForksResult) -> dict[tuple[int, int], Style]:
    """(node id, token index) -> the style that marks it on the path view:
    forks, the point of no return, and every token of the path from it on."""
    ms = result.measured
    marks: dict[tuple[int, int], Style] = {}
    if ms.no_return is not None:
        for pos in result.positions[ms.no_return :]:
            marks[(pos.node, pos.index)] = BASIN_STYLE
        first = result.positions[ms.no_return]
        marks[(first.node, first.index)] = NO_RETURN_STYLE
    for c in ms.changes:
        if c.fork:
            pos = result.positions[c.index]
            marks[(pos.node, pos.index)] = marks.get((pos.node, pos.index), Style()) + FORK_STYLE
    return marks


def position_line(result: ForksResult, i: int, width: int = 24) -> Text:
    from ...analysis.report import bar

    ms = result.measured
    pos, m = result.positions[i], ms.mixed[i]
    fork = any(c.fork and c.index == i for c in ms.changes)
    t = Text()
    t.append(f"{pos.position:>5} ")
    t.append(FORK_MARK if fork else " ", Style(bold=True))
    t.append(NO_RETURN_MARK if i == ms.no_return else " ", Style(bold=True))
    t.append(f" {visible(repr(pos.chosen.token))[:16]:<16} p={pos.chosen.prob:<5.2f} ")
    t.append(f"{bar(m.rate, width):<{width}}", Style(bold=fork))
    t.append(f" {m.rate:>4.0%} [{m.lo:.0%}, {m.hi:.0%}]")
    return t


def summary_text(result: ForksResult) -> Text:
    o = result.measured.outcome
    a = o.get("attractor") or {}
    what = (
        f"the biggest meaning cluster ({o['size']} continuations)"
        if o["kind"] != "attractor"
        else f"attractor {a['definition']}"
        if a["name"] == UNNAMED
        else f"attractor {a['name']!r} ({a['definition']})"
    )
    t = Text(f"Forks along the path to node {result.node_id}: {visible(what)}", Style(bold=True))
    if result.record is not None:
        t.append(f" · record {result.record}")
    s = result.settings
    t.append(
        f"\n{plural(len(result.positions), 'position')}, the token and up to {s['alternatives']} alternatives each "
        f"continued {s['samples']}\u00d7; rate with 95% interval\n"
    )
    if result.forks:
        t.append(
            FORK_MARK
            + " forks at "
            + ", ".join(
                f"{f['position']} ({visible(repr(f['token']))}: {f['before']:.0%}\u2192{f['after']:.0%})"
                for f in result.forks
            )
        )
    else:
        t.append(f"no fork (a change of at least {s['min_change']:.0%} at adjusted p < {s['alpha']:g})")
    p = result.point_of_no_return
    t.append(
        f"  {NO_RETURN_MARK} point of no return: "
        + (
            f"position {p['position']} ({visible(repr(p['token']))})"
            if p
            else f"none (the rate does not stay \u2265 {s['share']:.0%})"
        )
    )
    if result.cancelled:
        t.append("  (cancelled: the positions that finished)")
    return t


def check_form(values: dict[str, str], tokens: list) -> dict[str, Any]:
    """The form's strings as forks() options, checked by the experiment's own
    rules (the CLI's messages); ValueError says which is wrong."""
    from ...analysis.attractors import Attractor, AttractorError, parse_regex
    from ...experiments.forks import check_options, select

    def number(name: str, label: str) -> int:
        try:
            return int(values[name])
        except ValueError:
            raise ValueError(f"{label} must be a whole number (got {values[name]!r})") from None

    attractor = None
    spec = values["attractor"]
    if spec:
        try:
            named = re.match(r"\w+=/", spec)  # NAME=/REGEX/ as on the command line
            attractor = parse_regex(spec) if named else Attractor(UNNAMED, "regex", pattern=spec)
        except AttractorError as exc:
            raise ValueError(str(exc)) from None
    options = {
        "attractor": attractor,
        "n": number("n", "continuations"),
        "max_tokens": number("max_tokens", "tokens per continuation"),
        "alternatives": number("alternatives", "alternatives"),
        "stride": number("stride", "stride"),
        "start": number("start", "from"),
        "end": number("end", "to"),
    }
    GenerationParams(n=options["n"], max_tokens=options["max_tokens"]).validate()
    check_options(options["alternatives"])
    select(tokens, options["start"], options["end"], options["stride"])
    return options


class ForksForm(Dialog[dict | None]):
    """The attractor and the settings of a forks run."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, node_id: int, tokens: list) -> None:
        from ...experiments.forks import DEFAULTS

        super().__init__()
        self.node_id, self.tokens = node_id, tokens
        last = len(tokens) - 1
        self.fields = [
            ("attractor", "attractor: REGEX or NAME=/REGEX/", "wedding=/wedd|feast|marr/"),
            ("n", "continuations of each token", str(DEFAULTS["n"])),
            ("max_tokens", "tokens per continuation", str(DEFAULTS["max_tokens"])),
            ("alternatives", "alternatives besides the token", "3"),
            ("stride", "every k-th position", "1"),
            ("start", f"from position (0 to {last})", "0"),
            ("end", "to position (inclusive)", str(last)),
        ]

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label(
                Text(f"Forks along the path to node {self.node_id} ({len(self.tokens)} model tokens)", Style(bold=True))
            )
            with Grid(id="fields"):
                for name, label, default in self.fields:
                    yield Label(Text(label))
                    yield Input(default, id=f"f-{name}")
            yield Static(id="error")
            yield Label(Text("an empty attractor: the biggest meaning cluster · enter: run · escape: cancel"))

    def on_mount(self) -> None:
        self.query_one("#f-attractor", Input).focus()

    def on_input_submitted(self) -> None:
        values = {name: self.query_one(f"#f-{name}", Input).value.strip() for name, _, _ in self.fields}
        try:
            self.dismiss(check_form(values, self.tokens))
        except ValueError as exc:
            self.query_one("#error", Static).update(Text(str(exc)))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ForksScreen(ResultScreen[int | None]):
    """A forks run: its progress while it runs (escape stops it and keeps the
    positions finished), then a line per position with its rate bar; forks
    (◆) and the point of no return (●) are marked here and on the path view.
    Enter returns the chosen position (the app puts its token cursor there)."""

    BINDINGS = [Binding("escape,q", "close", "Close (or stop the run)")]

    def __init__(
        self,
        session: Session,
        backend: Backend,
        node_id: int,
        params: GenerationParams,
        options: dict[str, Any],
        on_result: Callable[[ForksResult], None] | None = None,
    ) -> None:
        super().__init__()
        self.session, self.backend, self.node_id = session, backend, node_id
        self.params, self.options, self.on_result = params, options, on_result
        self.job: Job | None = None  # the run, while it runs
        self.result: ForksResult | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"Forks along the path to node {self.node_id}: running\u2026", Style(bold=True)),
            id="title",
            classes="title",
        )
        yield ProgressBar(id="bar", show_eta=False)
        yield Static("", id="status", classes="hint")
        yield OptionList(id="positions")
        yield Static(
            Text(
                f"{FORK_MARK} fork: choosing this token moved the rate · {NO_RETURN_MARK} point of no return · "
                "on the path: forks bold and underlined, the point of no return overlined, the basin in italics · "
                "enter: put the cursor on that token"
            ),
            classes="hint",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.run_forks()

    def run_forks(self) -> None:
        from ...experiments.forks import forks

        session, backend, node_id, params, options = self.session, self.backend, self.node_id, self.params, self.options

        def body(progress: ProgressFn, cancel: Cancel) -> ForksResult:
            return forks(session, backend, node_id, params, cancel=cancel, progress=progress, **options)

        self.job = screen_job(
            self, "forks", f"forks along the path to node {node_id}", body, self._show, self._failed, self._progress
        )

    def _progress(self, p: Progress) -> None:
        self.query_one(ProgressBar).update(total=p.total, progress=p.done)
        self.query_one("#status", Static).update(Text(p.describe() + " · escape stops and keeps what finished"))

    def _failed(self, message: str) -> None:
        self.job = None
        self.query_one("#title", Static).update(
            Text(f"Forks along the path to node {self.node_id} failed", Style(bold=True))
        )
        self.query_one("#status", Static).update(Text(visible(message)))

    def _show(self, result: ForksResult) -> None:
        self.result, self.job = result, None
        self.query_one("#bar").display = False
        self.query_one("#status", Static).update("")
        self.query_one("#title", Static).update(summary_text(result))
        ol = self.query_one(OptionList)
        ol.add_options([Option(position_line(result, i), id=str(i)) for i in range(len(result.positions))])
        ol.highlighted = 0
        ol.focus()
        if self.on_result is not None:
            self.on_result(result)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.result.positions[event.option_index].position if self.result else None)

    def action_close(self) -> None:
        if self.job is not None and not self.job.cancel.is_set():
            self.job.cancel.set()  # the run stops at its next position and shows what finished
            self.query_one("#status", Static).update(Text("stopping\u2026 the positions that finished are kept"))
            return
        self.dismiss(None)
