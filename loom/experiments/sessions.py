"""Making a session: the root prompt and, when named, the session's model
(`loom new`, `loom.new_session()`)."""

from __future__ import annotations

from pathlib import Path

from ..store import Session, StoreError
from .models import open_model, stored_ref


def new_session(path: Path, prompt: str, *, model: str | None = None) -> Session:
    """A new session file at `path` whose root is `prompt`. A `model` is opened
    first (one that does not open is refused before a file is made) and becomes
    the session's model. An existing session with nodes is refused."""
    stored = stored_ref(model, open_model(model)) if model else None
    session = Session(path, create=True)
    if session.count():
        count = session.count()
        session.close()
        raise StoreError(f"{path}: already exists with {count} nodes; pick another name")
    root = session.add_node(None, prompt, "prompt")
    session.current = root.id
    if stored:
        session.set_state("model", stored)
    return session
