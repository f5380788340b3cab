"""Dialogs: the node editor, generation settings, the session picker, help, and quitting with jobs running."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..store import list_sessions
from ..textsafe import from_editable, one_line, to_editable
from ..tree import GenerationParams, ParamError
from .keymap import pretty
from .screens.base import Dialog
from .words import plural

if TYPE_CHECKING:
    from textual.widgets import TextArea


class EditScreen(Dialog[str | None]):
    """A multi-line editor. Saving returns the text (the caller makes a new
    node from it); Escape returns None."""

    BINDINGS = [Binding("ctrl+s", "save", "Save as new node"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, text: str, title: str, saves: str = "save (the original node is kept)") -> None:
        super().__init__()
        self.text, self.replaced = to_editable(text)
        self.title_text = title
        self.saves = saves  # what ctrl+s does, said in the hint

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea  # its document model, imported when an editor opens (not with the app)

        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield TextArea(self.text, id="editor", soft_wrap=True, show_line_numbers=False)
            yield Static(
                f"ctrl+s: {self.saves}   escape: cancel (asks first if the text was changed)",
                classes="hint",
            )
            if self.replaced:
                yield Static(
                    f"{self.replaced} control or invisible characters are shown as private-use symbols "
                    "and saved exactly as they were.",
                    classes="hint",
                )
            yield Static("", classes="error", id="error")

    def _editor(self) -> TextArea:
        from textual.widgets import TextArea

        return self.query_one(TextArea)

    def on_mount(self) -> None:
        editor = self._editor()
        editor.focus()
        editor.move_cursor(editor.document.end)

    def action_save(self) -> None:
        text = from_editable(self._editor().text)
        if not text.strip():
            self.query_one("#error", Static).update("The text is empty; type something or press escape.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        if self._editor().text == self.text:
            self.dismiss(None)
            return

        def answer(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)
            else:
                self._editor().focus()

        self.app.push_screen(DiscardScreen(), answer)


class DiscardScreen(Dialog[bool]):
    """Asked when escape would throw a changed text away: discard it, or keep editing."""

    BINDINGS = [Binding("d", "discard", "Discard the changes"), Binding("escape,k", "keep", "Keep editing")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("The text was changed. Discard the changes?", style="bold"))
            with Grid(id="answers"):
                yield Button("Discard (d)", variant="error", id="discard")
                yield Button("Keep editing (escape)", variant="primary", id="keep")
            yield Static("d: discard the changes   escape or k: keep editing", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "discard")

    def action_discard(self) -> None:
        self.dismiss(True)

    def action_keep(self) -> None:
        self.dismiss(False)


class QuitScreen(Dialog[bool]):
    """Asked when quitting with jobs running: quit (they stop, keeping what they finished), or stay."""

    BINDINGS = [Binding("y", "quit", "Quit"), Binding("escape,n", "stay", "Stay")]

    def __init__(self, jobs: list[str]) -> None:
        super().__init__()
        self.jobs = jobs

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"{plural(len(self.jobs), 'job')} running. Quit anyway?", style="bold"))
            yield Static(Text("\n".join(self.jobs)), classes="hint")
            with Grid(id="answers"):
                yield Button("Quit (y)", variant="error", id="quit")
                yield Button("Stay (escape)", variant="primary", id="stay")
            yield Static("quitting stops them; what they finished is saved", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")

    def action_quit(self) -> None:
        self.dismiss(True)

    def action_stay(self) -> None:
        self.dismiss(False)


FIELDS = [
    ("n", "branches (n)", int),
    ("max_tokens", "max tokens", int),
    ("temperature", "temperature", float),
    ("top_p", "top-p (1 = off)", float),
    ("top_k", "top-k (0 = off)", int),
    ("min_p", "min-p (0 = off)", float),
    ("xtc_threshold", "XTC threshold", float),
    ("xtc_probability", "XTC probability", float),
    ("cap", "cap (1 = off)", float),
    ("logprobs", "alternatives per token", int),
    ("seed", "seed (empty = random)", int),
]


class SettingsScreen(Dialog[tuple[GenerationParams, str] | None]):
    """Generation settings; values are checked before the dialog closes."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        params: GenerationParams,
        model: str,
        models: list[str] | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.params, self.model = params, model
        self.models = models or []
        self.sources = sources or {}  # where each value came from (the settings resolver's order)

    def _source(self, name: str) -> Label:
        where = self.sources.get(name, "")
        short = " ".join(where.split()[:2]) if where.startswith("profile") else where.split(" ")[0]
        return Label(Text(short), id=f"src-{name}", classes="source")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Generation settings", style="bold"))
            with VerticalScroll():
                with Grid():
                    for name, label, _ in FIELDS:
                        value = getattr(self.params, name)
                        yield Label(label)
                        yield Input("" if value is None else str(value), id=f"f-{name}")
                        yield self._source(name)
                    yield Label("stop strings (JSON list)")
                    yield Input(json.dumps(self.params.stop), id="f-stop")
                    yield self._source("stop")
                    yield Label("model")
                    yield Input(self.model, id="f-model", placeholder="demo, demo-wedding, a folder, or a profile")
                    yield self._source("model")
            yield Static(
                Text(
                    "models: " + ", ".join(self.models) + ", a local model folder, a cached Hugging Face id, "
                    "or openai:MODEL@URL"
                ),
                classes="hint",
            )
            yield Static("", classes="error", id="error")
            yield Static(
                "right: where each value comes from (session, profile, config file or default; "
                "saving makes them the session's)",
                classes="hint",
            )
            yield Static("ctrl+s or the button: save   escape: cancel", classes="hint")
            yield Button("Save", variant="primary", id="save")

    def on_mount(self) -> None:
        self.query_one(f"#f-{FIELDS[0][0]}", Input).focus()  # the first field, not the scroll area

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        error = self.query_one("#error", Static)
        values = {}
        for name, label, kind in FIELDS:
            raw = self.query_one(f"#f-{name}", Input).value.strip()
            if name == "seed" and raw == "":
                values[name] = None
                continue
            try:
                values[name] = kind(raw)
            except ValueError:
                error.update(
                    Text(f"{label}: {raw!r} is not a {'whole number' if kind is int else 'number'}")
                )  # typed text, not markup
                return
        try:
            stop = json.loads(self.query_one("#f-stop", Input).value or "[]")
            if isinstance(stop, str):
                stop = [stop]
        except json.JSONDecodeError as exc:
            error.update(Text(f'stop strings: not a JSON list such as ["\\n", "The End"] ({exc.msg})'))
            return
        model = self.query_one("#f-model", Input).value.strip() or self.model
        try:
            params = self.params.replace(**values, stop=stop).validate()
        except (ParamError, TypeError) as exc:
            error.update(Text(str(exc)))
            return
        self.dismiss((params, model))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SessionsScreen(Dialog[Path | None]):
    """Pick a session from the sessions folder, or start a new one."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, folder: Path, current: Path) -> None:
        super().__init__()
        self.folder, self.current = folder, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Sessions in {self.folder}", style="bold"))
            yield OptionList(markup=False, id="sessions")
            yield Static("enter: open   escape: back", classes="hint")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.add_option(Option(Text("+ new session", style="bold"), id="__new__"))
        for row in list_sessions(self.folder) if self.folder.exists() else []:
            when = datetime.datetime.fromtimestamp(row["modified"]).strftime("%Y-%m-%d %H:%M")
            t = Text(f"{row['name']:<32} {when}  ")
            if row["error"]:
                t.append(f"unreadable: {row['error']}", style="red")
            else:
                t.append(f"{plural(row['nodes'], 'node'):>11}  ", style="dim")
                t.append(one_line(row.get("prompt") or "", 40), style="italic")
            if Path(row["path"]).resolve() == self.current.resolve():
                t.append("  (open)", style="bold")
            ol.add_option(Option(t, id=row["path"], disabled=bool(row["error"])))
        ol.highlighted = 0  # on "+ new session": the first ↓ goes to the first session
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "__new__":
            self.dismiss(self.folder / datetime.datetime.now().strftime("session-%Y%m%d-%H%M%S.loom"))
        else:
            self.dismiss(Path(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(Dialog[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("loom: every key\n", style="bold")
        groups: dict[str, list] = {}
        for k in self.app.keys_table():
            groups.setdefault(k.group, []).append(k)
        for group, keys in groups.items():
            t.append(f"\n{group}\n", style="bold underline")
            for k in keys:
                shown = ", ".join(pretty(x) for x in k.keys.split(","))
                t.append(f"  {shown:<22}", style="bold")
                t.append(f"{k.description}\n")
        t.append("\n  ctrl+p               Command palette: every action by name\n")
        t.append(
            "\nColours: a model token's background shows the probability the model gave it "
            "(legend at the bottom). Press escape to close.",
            style="dim",
        )
        with VerticalScroll():
            yield Static(t)

    def action_close(self) -> None:
        self.dismiss(None)
