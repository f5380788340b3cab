"""Python's cyclic garbage collector kept off the keys.

A full pass of the collector walks every tracked object; with a model and a
long path loaded that took 0.1-0.7 s here, and it came whenever allocation
counts said so, often in the middle of a key's work. While keys are coming the
collector waits; once none has come for QUIET seconds it runs as usual. Large
loads (a long path laid out) are frozen out of its passes (gc.freeze) by the
code that makes them. Objects are still freed by reference counting at once:
only cycles wait."""

from __future__ import annotations

import gc
import time

QUIET = 1.0  # seconds without a key before the collector may run again


class QuietCollector:
    def __init__(self) -> None:
        self.last_key = 0.0
        self.paused = False

    def key(self) -> None:
        """A key arrived: no collection until the keys stop."""
        self.last_key = time.monotonic()
        if not self.paused and gc.isenabled():
            gc.disable()
            self.paused = True

    def tick(self) -> None:
        """Called a few times a second: let the collector run again after a quiet spell."""
        if self.paused and time.monotonic() - self.last_key >= QUIET:
            self.resume()

    def resume(self) -> None:
        if self.paused:
            gc.enable()
            self.paused = False
