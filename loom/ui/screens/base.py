"""The two kinds of screen the app shows over its main screen, so that loom.tcss
styles each kind once: a centred `Dialog` box that returns what the user chose,
and a full `ResultScreen` showing an experiment's result."""

from __future__ import annotations

from textual.screen import ModalScreen, Screen, ScreenResultType


class Dialog(ModalScreen[ScreenResultType]):
    """A modal box in the middle of the screen (loom.tcss: `Dialog`)."""


class ResultScreen(Screen[ScreenResultType]):
    """A full screen with a title, the result and a line of hints (loom.tcss: `ResultScreen`)."""
