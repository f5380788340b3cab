"""loom: explore the multiverse of a language model's continuations.

The Python library (see loom.api): sessions, models and every experiment,
with the CLI's settings resolver and records. Names load on first use, so
`loom` on the command line does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Comparison", "DistributionResult", "EditError", "GenerationResult", "LoomError", "MultiverseResult",
    "Perturbation", "Progress", "ReplayComparison", "ReportResult", "Resolved", "ScoreResult", "Session",
    "SweepResult", "TokenPath", "VersusResult",
    "compare", "distribution", "edit", "fork", "generate", "load_model", "multiverse", "new_session", "open_session",
    "path", "replay", "report", "score", "settings", "sweep", "vs",
]

if TYPE_CHECKING:
    from .api import (compare, distribution, edit, fork, generate, load_model, multiverse, new_session, open_session,
                      path, replay, report, score, settings, sweep, vs)
    from .experiments.base import Progress
    from .experiments.compare import Comparison, ReplayComparison
    from .experiments.distribution import DistributionResult
    from .experiments.edit import EditError, Perturbation
    from .experiments.path import TokenPath
    from .experiments.generate import GenerationResult
    from .experiments.multiverse import MultiverseResult
    from .experiments.report import ReportResult
    from .experiments.score import ScoreResult
    from .experiments.settings import Resolved
    from .experiments.sweep import SweepResult
    from .experiments.vs import VersusResult
    from .store import Session
    from .tree import LoomError

_WHERE = {
    "Comparison": "experiments.compare", "DistributionResult": "experiments.distribution",
    "EditError": "experiments.edit", "GenerationResult": "experiments.generate", "LoomError": "tree",
    "MultiverseResult": "experiments.multiverse", "Perturbation": "experiments.edit", "Progress": "experiments.base",
    "ReplayComparison": "experiments.compare", "ReportResult": "experiments.report", "Resolved": "experiments.settings",
    "ScoreResult": "experiments.score", "SweepResult": "experiments.sweep", "TokenPath": "experiments.path",
    "VersusResult": "experiments.vs", "Session": "store",
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
