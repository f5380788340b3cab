"""Keys first: what runs beside the UI in the app's process waits while keys come.

- Python's cyclic garbage collector: a full pass walks every tracked object;
  with a model and a long path loaded it took 0.1-0.7 s here, whenever the
  allocation counts said so, often in the middle of a key's work. While keys
  come it waits; once none has come for QUIET seconds it runs as usual.
  (Objects are still freed by reference counting at once: only cycles wait.
  Large loads, a long path laid out, are frozen out of its passes by the code
  that makes them.)
- The model's loading: its imports (torch and transformers, thousands of
  modules) run in a thread and hold the interpreter's lock; while keys come,
  each module waits before it is imported, and the lock's switch interval is
  short, so a key waits for at most one module's import, not for the load.
  What this cannot shorten: a single import that holds the lock in C (an
  extension module's initialisation) for hundreds of milliseconds.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET = 1.0  # seconds without a key before the collector may run again
IMPORT_QUIET = 0.2  # seconds without a key before the loading thread imports its next module
IMPORT_WAIT = 2.0  # the longest one import waits for keys to stop (keys held down must not stall the load)
SWITCH = 0.001  # the interpreter's switch interval while a model loads (Python's default: 0.005)


class KeysFirst(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.last_key = 0.0
        self.gc_paused = False
        self._loaders: set[int] = set()  # threads loading a model
        self._lock = threading.Lock()

    def key(self) -> None:
        """A key arrived."""
        import gc

        self.last_key = time.monotonic()
        if not self.gc_paused and gc.isenabled():
            gc.disable()
            self.gc_paused = True

    def tick(self) -> None:
        """Called a few times a second: let the collector run again after a quiet spell."""
        if self.gc_paused and time.monotonic() - self.last_key >= QUIET:
            self.resume()

    def resume(self) -> None:
        import gc

        if self.gc_paused:
            gc.enable()
            self.gc_paused = False

    # -- the model's imports ---------------------------------------------------
    @contextmanager
    def loading(self) -> Iterator[None]:
        """Around a model's loading in a worker thread: its imports give way to keys."""
        me = threading.get_ident()
        with self._lock:
            if not self._loaders:
                self._switch = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH)
                sys.meta_path.insert(0, self)
            self._loaders.add(me)
        try:
            yield
        finally:
            with self._lock:
                self._loaders.discard(me)
                if not self._loaders:
                    sys.meta_path.remove(self)
                    sys.setswitchinterval(self._switch)

    def find_spec(self, fullname, path=None, target=None):  # a finder that finds nothing: it only waits
        if threading.get_ident() in self._loaders:
            give_up = time.monotonic() + IMPORT_WAIT
            while time.monotonic() - self.last_key < IMPORT_QUIET and time.monotonic() < give_up:
                time.sleep(0.01)  # sleeping lets go of the interpreter's lock
        return None
