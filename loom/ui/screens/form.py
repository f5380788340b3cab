"""A few labelled inputs that start an experiment, checked before the form closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ...analysis.perturb import PerturbError
from ...tree import ParamError
from .base import Dialog


class FormScreen(Dialog[dict | None]):
    """A few labelled inputs; `check` turns their strings into values or raises
    ValueError with a message, shown under the form."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, str, str]],
        check: Callable[[dict], dict],
        checkboxes: list[tuple[str, str, bool]] = (),
        records: list[dict] | None = None,
    ) -> None:
        super().__init__()
        self.heading, self.fields, self.check = title, fields, check
        self.checkboxes, self.records = list(checkboxes), records or []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):  # scrolls where the terminal is short (80x24)
            yield Label(Text(self.heading, Style(bold=True)))
            for name, label, default in self.fields:
                yield Label(Text(label))
                yield Input(default, id=f"f-{name}")
            for name, label, value in self.checkboxes:
                yield Checkbox(Text(label), value, id=f"c-{name}")
            yield Static(id="error")
            yield Label(Text("enter: run · escape: cancel" + (" · or reopen a stored result:" if self.records else "")))
            if self.records:
                yield OptionList(*[Option(Text(r["label"]), id=str(r["id"])) for r in self.records], id="records")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#f-{self.fields[0][0]}", Input).focus()

    def on_input_submitted(self) -> None:
        values: dict[str, Any] = {name: self.query_one(f"#f-{name}", Input).value.strip() for name, _, _ in self.fields}
        values.update({name: self.query_one(f"#c-{name}", Checkbox).value for name, _, _ in self.checkboxes})
        try:
            self.dismiss({"run": self.check(values)})
        except (ValueError, ParamError, PerturbError) as exc:
            self.query_one("#error", Static).update(Text(str(exc)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss({"open": int(event.option.id)})

    def action_cancel(self) -> None:
        self.dismiss(None)


def whole_number(values: dict, name: str, label: str, lo: int, hi: int) -> int:
    try:
        v = int(values[name])
    except ValueError:
        raise ValueError(f"{label} must be a whole number (got {values[name]!r})") from None
    if not lo <= v <= hi:
        raise ValueError(f"{label} must be from {lo} to {hi} (got {v})")
    return v


def fraction(values: dict, name: str, label: str) -> float:
    try:
        v = float(values[name])
    except ValueError:
        raise ValueError(f"{label} must be a number (got {values[name]!r})") from None
    if not 0 <= v <= 1:
        raise ValueError(f"{label} must be from 0 to 1 (got {v})")
    return v
