"""The progress line a long command shows on standard error (only on a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..experiments.base import Progress, ProgressFn


@contextmanager
def progress_line(quiet: bool = False) -> Iterator[ProgressFn | None]:
    """A ProgressFn that redraws '12/40 samples, 8 s left' in place, or None when
    standard error is not a terminal (scripts and pipes get no carriage returns)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    shown = [False]
    last = [0.0]

    def show(p: Progress) -> None:
        # at most ten redraws a second: generation reports every token
        now = time.monotonic()
        if now - last[0] < 0.1 and p.done != p.total:
            return
        shown[0], last[0] = True, now
        print(f"\r{p.describe()}\x1b[K", end="", file=sys.stderr, flush=True)

    try:
        yield show
    finally:
        if shown[0]:
            print(file=sys.stderr)
