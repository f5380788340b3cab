"""Forking tokens in the app: F asks for the attractor and the settings
(screens/forks.py), runs experiments.forks on the current path as a job, and
marks the forks and the point of no return on the path view. The app hooks this
in with its key (FORKS_KEYS) and one action calling open_forks(app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .keymap import Key
from .pathview import PathView

# the screens, the experiment and the analysis it draws on are imported when the tool opens, not with the app
if TYPE_CHECKING:
    from .app import LoomApp

FORKS_KEYS: list[Key] = [
    Key("F", "forks", "Forking tokens: where this path's outcome is decided, marked on the path (a job)", "Attractors"),
]


def open_forks(app: LoomApp) -> None:
    """F on the app: ask for the settings, then run on the current path and mark the result on the path view."""
    from ..experiments.forks import ForksError, path_tokens
    from .screens.forks import ForksForm, ForksScreen, path_marks

    if app.node_id is None or app.backend is None:
        app.notify("Write a prompt and let the model load first.", timeout=3)
        return
    try:
        tokens = path_tokens(app.session, app.node_id)[0]
    except ForksError as exc:
        app.notify(str(exc), severity="warning", timeout=6)
        return
    node_id, backend, view = app.node_id, app.backend, app.query_one(PathView)

    def chosen(options: dict | None) -> None:
        if options:
            params = app.params.replace(n=options.pop("n"), max_tokens=options.pop("max_tokens"))
            app.push_screen(
                ForksScreen(app.session, backend, node_id, params, options, lambda r: view.set_marks(path_marks(r))),
                went,
            )

    def went(position: int | None) -> None:
        if position is not None and app.node_id == node_id and position < len(view.tokens):
            app.cursor = position  # the path on view is the one the run went along

    app.push_screen(ForksForm(node_id, tokens), chosen)
