"""loom: explore the multiverse of a language model's continuations.

The Python library (see loom.api): sessions, models and every experiment,
with the CLI's settings resolver and records. Names load on first use, so
`loom` on the command line does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Comparison", "EditError", "GenerationResult", "Perturbation", "Progress", "ReportResult", "Resolved", "Session",
    "SweepResult", "TokenPath",
    "compare", "edit", "fork", "generate", "load_model", "new_session", "open_session", "path", "report", "settings",
    "sweep",
]

if TYPE_CHECKING:
    from .api import compare, edit, fork, generate, load_model, new_session, open_session, path, report, settings, sweep
    from .experiments.base import Progress
    from .experiments.compare import Comparison
    from .experiments.edit import EditError, Perturbation
    from .experiments.path import TokenPath
    from .experiments.generate import GenerationResult
    from .experiments.report import ReportResult
    from .experiments.settings import Resolved
    from .experiments.sweep import SweepResult
    from .store import Session

_WHERE = {
    "Comparison": "experiments.compare", "EditError": "experiments.edit", "Perturbation": "experiments.edit",
    "TokenPath": "experiments.path", "GenerationResult": "experiments.generate", "Progress": "experiments.base",
    "ReportResult": "experiments.report", "Resolved": "experiments.settings", "SweepResult": "experiments.sweep",
    "Session": "store",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'loom' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_WHERE.get(name, 'api')}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
