"""The app's footer: Textual's, recomposed once for the changes of the key
bindings that come together. Textual's footer recomposes (a widget for each key)
after every change: as the app starts, the focus, the screen stack and the
screen's resume each announce one, and the five recomposes took 30-40 ms each,
in the way of the first keys (docs/explanation/performance.md, target 5)."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class LoomFooter(Footer):
    _queued = False  # a recompose is queued: it shows every change made before it runs

    def bindings_changed(self, screen: Screen) -> None:
        # Footer.bindings_changed, with one recompose queued at a time
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._queued:
            self._queued = True
            self.call_after_refresh(self._recompose_queued)

    async def _recompose_queued(self) -> None:
        self._queued = False  # a change from here on queues another
        await self.recompose()
