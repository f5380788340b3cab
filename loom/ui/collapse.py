"""Collapse versus temperature in the app: the screen (screens/collapse.py)
for the current node's path, a tuned model against a base one. LoomApp binds
COLLAPSE_KEYS to `open_collapse`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .keymap import Key

# the screen (and the experiment it runs) is imported when it opens, not with the app
if TYPE_CHECKING:
    from .app import LoomApp

COLLAPSE_KEYS: list[Key] = [
    Key(
        "V",
        "collapse",
        "Collapse vs temperature: the temperature on a base model closest to a tuned one along this path",
        "Multiverse",
    ),
]


def default_models(current: str) -> tuple[str, str]:
    """(tuned, base) to start from: the app's model as the tuned one, against demo;
    on demo itself, the bundled tuned model against it."""
    return ("demo-wedding", "demo") if current == "demo" else (current, "demo")


def open_collapse(app: LoomApp) -> None:
    """LoomApp's `collapse` action: the screen for the current node (the app gives
    session, node_id, backend, key_for, notify, push_screen)."""
    from .screens.collapse import CollapseScreen

    if app.node_id is None:
        app.notify(f"Write a prompt first ({app.key_for('new_root')}).", timeout=3)
        return
    if app.backend is None:
        app.notify("The model is still loading (or failed to load: see the status line).", timeout=3)
        return
    app.push_screen(CollapseScreen(app.session, app.node_id, default_models(app.backend.name)))
