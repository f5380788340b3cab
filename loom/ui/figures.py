"""Saving a result screen's figure: a PNG next to the session file, named for
the session, the experiment and its record (never over an existing file), and
a notice that says where. The result screens (report, sweep, model vs model,
scored candidates, collapse) bind FIGURE_BINDING to their `save_figure` action."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from ..store import Session
from ..textsafe import visible
from ..tree import LoomError

FIGURE_KEY = "ctrl+s"
FIGURE_BINDING = Binding(FIGURE_KEY, "save_figure", "save figure")


def figure_path(session: Session, what: str, record: int | None, node: int | None) -> Path:
    """`<session>-<what>-record<N>.png` (or -node<N>) beside the session file; -2, -3... when taken."""
    tag = f"record{record}" if record is not None else f"node{node}" if node is not None else "figure"
    stem = f"{session.path.stem}-{what}-{tag}"
    path, i = session.path.parent / f"{stem}.png", 2
    while path.exists():
        path, i = session.path.parent / f"{stem}-{i}.png", i + 1
    return path


def save_figure(
    screen: Screen,
    session: Session,
    draw: Callable[[Path], Any] | None,
    what: str,
    record: int | None,
    node: int | None,
) -> Path | None:
    """Draw the figure with `draw(path)` (a result's plot) beside the session and say where;
    None (and a notice why) when there is nothing to draw yet or it cannot be written."""
    if draw is None:
        screen.notify("Nothing to draw yet: run it first.", severity="warning", timeout=4)
        return None
    path = figure_path(session, what, record, node)
    try:
        draw(path)
    except (LoomError, OSError) as exc:
        screen.notify(visible(str(exc)), title="cannot save the figure", severity="error", timeout=10, markup=False)
        return None
    screen.notify(visible(str(path)), title="figure saved", timeout=10, markup=False)
    return path
