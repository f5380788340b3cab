"""Model sources behind one interface (see base.Backend)."""

from typing import Any

from .base import Backend, BackendError, branch_seeds

__all__ = ["Backend", "BackendError", "branch_seeds", "open_backend"]


def open_backend(ref: str = "demo", **kwargs: Any) -> Backend:
    """A backend for a model reference:

    - a bundled demo name ("demo"), a local folder or a Hugging Face id (local cache only);
    - the name of a profile in the config file: an OpenAI-compatible server;
    - `openai:MODEL` (OpenAI, or the server in $OPENAI_BASE_URL), `openai:MODEL@URL`
      (legacy completions) or `openai-chat:MODEL@URL` (chat): a server without a profile.
    """
    if ref.startswith(("openai:", "openai-chat:")):
        from .openai_compat import open_openai

        return open_openai(ref)
    from .local import BUNDLED

    if ref not in BUNDLED:
        from ..config import load_config

        profile = load_config().profiles.get(ref)
        if profile is not None:
            from .openai_compat import OpenAIBackend

            return OpenAIBackend(profile, **kwargs)
    from .local import LocalBackend

    return LocalBackend(ref, **kwargs)
