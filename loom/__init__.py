"""loom: explore the multiverse of a language model's continuations.

The Python library (see loom.api): sessions, models and every experiment,
with the CLI's settings resolver and records. Names load on first use, so
`loom` on the command line does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Comparison", "ForksResult", "GenerationResult", "GlobalResult", "Progress", "ReportResult", "Resolved", "Session",
    "SweepResult", "compare", "forks", "generate", "global_attractors", "load_model", "new_session", "open_session",
    "report", "settings", "sweep",
]

if TYPE_CHECKING:
    from .api import (
        compare, forks, generate, global_attractors, load_model, new_session, open_session, report, settings, sweep,
    )
    from .experiments.base import Progress
    from .experiments.compare import Comparison
    from .experiments.forks import ForksResult
    from .experiments.generate import GenerationResult
    from .experiments.global_attractors import GlobalResult
    from .experiments.report import ReportResult
    from .experiments.settings import Resolved
    from .experiments.sweep import SweepResult
    from .store import Session

_WHERE = {
    "Comparison": "experiments.compare", "GenerationResult": "experiments.generate", "Progress": "experiments.base",
    "ForksResult": "experiments.forks", "GlobalResult": "experiments.global_attractors",
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
