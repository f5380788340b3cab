"""The session database."""

from .session import Session, StoreError, default_sessions_dir, list_sessions, resolve_session

__all__ = ["Session", "StoreError", "default_sessions_dir", "list_sessions", "resolve_session"]
