"""Models by reference, opened once per process: the faces (CLI, app, Python)
reach a model only through here, and an experiment that must use the model
that wrote a node (a replay) opens it here too."""

from __future__ import annotations

import os
import threading
from typing import Any

from ..backends import Backend, BackendError, open_backend
from ..config import Config, load_config
from ..store import Session
from ..tree import GenerationParams

__all__ = [
    "Backend",
    "BackendError",
    "check_server",
    "known_models",
    "open_for",
    "open_model",
    "remember_model",
    "stored_ref",
]

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


def check_server(ref: str, config: Config | None = None) -> tuple[Backend, dict[str, Any]]:
    """What an OpenAI-compatible server says to a few small requests (`loom
    models --check`): reachable, the model listed, generates, logprobs."""
    from ..backends.openai_compat import OpenAIBackend
    from ..textsafe import redact

    config = config or load_config()
    server = ref.startswith(("openai:", "openai-chat:")) or ref in config.profiles
    backend = open_backend(ref) if server else None
    if not isinstance(backend, OpenAIBackend):
        known = ", ".join(config.profiles) or "none"
        raise BackendError(
            f"{redact(ref)!r} is not a profile in {config.path} (profiles: {known}) nor openai:MODEL@URL"
        )
    return backend, backend.check()


def remember_model(session: Session, ref: str, backend: Backend) -> None:
    """Make `ref` (once opened as `backend`) the session's model: later runs
    without a model named use it (the resolver's "session" layer)."""
    stored = stored_ref(ref, backend)
    if not session.readonly and session.get_state("model") != stored:
        session.set_state("model", stored)


def open_for(session: Session, ref: str, *, named: bool = False, params: GenerationParams | None = None) -> Backend:
    """The model `ref` for a run on `session`. A model the user named (--model,
    `model=`, the app's settings) becomes the session's model once it has
    opened and accepted `params` (Backend.refuse_unsupported); a name that does
    not open, or a setting it cannot honour, changes nothing stored."""
    backend = open_model(ref)
    if params is not None:
        backend.refuse_unsupported(params)
    if named:
        remember_model(session, ref, backend)
    return backend
