"""Model sources behind one interface (see base.Backend)."""

from .base import Backend, BackendError, branch_seeds

__all__ = ["Backend", "BackendError", "branch_seeds", "open_backend"]


def open_backend(ref: str = "demo", **kwargs) -> Backend:
    """A backend for a model reference: a bundled demo name, a local folder or
    Hugging Face id (local cache only)."""
    from .local import LocalBackend

    return LocalBackend(ref, **kwargs)
