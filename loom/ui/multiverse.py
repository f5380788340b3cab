"""Seeing the multiverse in the app: the block multiverse (screens/multiverse.py),
the next-token distribution (screens/distribution.py), scored candidates
(screens/candidates.py) and model vs model (screens/vs.py), each opened by
`MultiverseViews` for the app's current node ("w": the original loom's "wavefunction")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..tree import Node
from .keymap import Key

# each screen (and the experiments it runs) is imported when it opens, not with the app
if TYPE_CHECKING:
    from .app import LoomApp

#: the keys LoomApp adds to its key table for the multiverse views
MULTIVERSE_KEYS: list[Key] = [
    Key(
        "w",
        "multiverse",
        "Block multiverse of this node (zoom, branch, export SVG/PNG)",
        "Multiverse",
        footer=True,
        short="multiverse",
    ),
    Key("d", "distribution", "Next-token distribution at the cursor (or after the node), with entropy", "Multiverse"),
    Key("p", "candidates", "Score candidates after this node (typed, a file, or the numbers 0-100)", "Multiverse"),
    Key("v", "versus", "Model vs model: run this node on two models side by side", "Multiverse"),
]


class MultiverseViews:
    """Opens the multiverse screens for the app's current node with the app's model."""

    def __init__(self, app: LoomApp) -> None:
        self.app = app

    def _branch_added(self, node: Node) -> None:
        self.app.refresh_nodes(node.parent_id)

    def _cursor_place(self) -> tuple[int, int | None]:
        """The node and token under the cursor, else the current node (None: after it)."""
        app = self.app
        if app.token is not None:
            node, ti = app.token
            return node.id, ti
        assert app.node_id is not None
        return app.node_id, None

    def multiverse(self) -> None:
        from .screens.multiverse import MultiverseScreen

        app = self.app
        if app.model_ready() and app.node_id is not None and app.backend is not None:
            app.push_screen(
                MultiverseScreen(app.session, app.node_id, app.backend, app.loom_theme, on_branch=self._branch_added)
            )

    def distribution(self) -> None:
        from .screens.distribution import DistributionScreen

        app = self.app
        if app.model_ready() and app.backend is not None:
            node_id, token = self._cursor_place()
            app.push_screen(DistributionScreen(app.session, app.backend, node_id, token, app.loom_theme))

    def candidates(self) -> None:
        from .screens.candidates import CandidatesScreen

        app = self.app
        if app.model_ready() and app.node_id is not None and app.backend is not None:
            app.push_screen(CandidatesScreen(app.session, app.backend, app.node_id, app.loom_theme))

    def versus(self) -> None:
        from .screens.vs import VersusScreen

        app = self.app
        if not (app.model_ready() and app.node_id is not None and app.backend is not None):
            return
        mine = app.backend.name
        other = "demo-wedding" if mine != "demo-wedding" else "demo"
        params = app.params.replace(n=min(app.params.n, 4), max_tokens=min(app.params.max_tokens, 32))
        app.push_screen(
            VersusScreen(app.session, app.node_id, (mine, other), params, app.loom_theme, app.refresh_nodes)
        )
