"""Models by reference, opened once per process: the faces (CLI, app, Python)
reach a model only through here, and an experiment that must use the model
that wrote a node (a replay) opens it here too."""

from __future__ import annotations

import os
import threading

from ..backends import Backend, BackendError, open_backend
from ..config import Config, load_config

__all__ = ["Backend", "BackendError", "known_models", "open_model", "stored_ref"]

_open: dict[tuple[str, str, str | None], Backend] = {}
_lock = threading.Lock()


def _key(ref: str) -> tuple[str, str, str | None]:
    # a reference means another server when its profile or $OPENAI_BASE_URL changes
    return ref, repr(load_config().profiles.get(ref)), os.environ.get("OPENAI_BASE_URL")


def open_model(ref: str, *, keep: bool = True) -> Backend:
    """The backend for `ref` (demo, demo-wedding, a folder, a profile,
    openai:MODEL@URL). With `keep` it is loaded once and shared by every later
    call in this process (the app's workers, a notebook's cells); a model that
    fails to open raises BackendError and nothing is kept."""
    if not keep:
        return open_backend(ref)
    key = _key(ref)
    with _lock:  # two workers asking for one model load it once
        if key not in _open:
            _open[key] = open_backend(ref)
        return _open[key]


def known_models(config: Config | None = None) -> list[str]:
    """The bundled models and the config's profiles, for pickers and messages."""
    from ..backends.local import BUNDLED

    return [*BUNDLED, *(config or load_config()).profiles]


def stored_ref(ref: str, backend: Backend) -> str:
    """The model reference a session records: a server reference as the backend
    names it, without the URL's credentials (they are never stored or sent)."""
    return backend.name if ref.startswith(("openai:", "openai-chat:")) else ref
