"""The progress line a long command shows on standard error (only on a terminal)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from ..experiments.base import Progress, ProgressFn


@contextmanager
def progress_line(quiet: bool = False) -> Iterator[ProgressFn | None]:
    """A ProgressFn that redraws '12/40 samples, 8 s left' in place, or None when
    standard error is not a terminal (scripts and pipes get no carriage returns)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    shown = [False]

    def show(p: Progress) -> None:
        shown[0] = True
        print(f"\r{p.describe()}\x1b[K", end="", file=sys.stderr, flush=True)

    try:
        yield show
    finally:
        if shown[0]:
            print(file=sys.stderr)
