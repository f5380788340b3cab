"""loom: explore the multiverse of a language model's continuations.

The Python library (see loom.api): sessions, models and every experiment,
with the CLI's settings resolver and records. Names load on first use, so
`loom` on the command line does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: every public name, one a line, and the module it comes from
_WHERE = {
    # sessions, models, settings
    "Session": "store",
    "open_session": "api",
    "new_session": "api",
    "load_model": "api",
    "settings": "api",
    "Resolved": "experiments.settings",
    "LoomError": "tree",
    "Progress": "experiments.base",
    # experiments and their results
    "generate": "api",
    "GenerationResult": "experiments.generate",
    "compare": "api",
    "Comparison": "experiments.compare",
    "replay": "api",
    "ReplayComparison": "experiments.compare",
    "sweep": "api",
    "SweepResult": "experiments.sweep",
    "report": "api",
    "ReportResult": "experiments.report",
    "distribution": "api",
    "DistributionResult": "experiments.distribution",
    "score": "api",
    "ScoreResult": "experiments.score",
    "plot_scores": "experiments.score",
    "multiverse": "api",
    "MultiverseResult": "experiments.multiverse",
    "vs": "api",
    "VersusResult": "experiments.vs",
    "collapse": "api",
    "CollapseResult": "experiments.collapse",
    "forks": "api",
    "ForksResult": "experiments.forks",
    "global_attractors": "api",
    "GlobalResult": "experiments.global_attractors",
    # perturbations by hand, and a path with its tokens
    "edit": "api",
    "fork": "api",
    "Perturbation": "experiments.edit",
    "EditError": "experiments.edit",
    "path": "api",
    "TokenPath": "experiments.path",
    "profile": "api",
    "ProfileResult": "experiments.profile",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from .api import (
        collapse,
        compare,
        distribution,
        edit,
        fork,
        forks,
        generate,
        global_attractors,
        load_model,
        multiverse,
        new_session,
        open_session,
        path,
        profile,
        replay,
        report,
        score,
        settings,
        sweep,
        vs,
    )
    from .experiments.base import Progress
    from .experiments.collapse import CollapseResult
    from .experiments.compare import Comparison, ReplayComparison
    from .experiments.distribution import DistributionResult
    from .experiments.edit import EditError, Perturbation
    from .experiments.forks import ForksResult
    from .experiments.generate import GenerationResult
    from .experiments.global_attractors import GlobalResult
    from .experiments.multiverse import MultiverseResult
    from .experiments.path import TokenPath
    from .experiments.profile import ProfileResult
    from .experiments.report import ReportResult
    from .experiments.score import ScoreResult, plot_scores
    from .experiments.settings import Resolved
    from .experiments.sweep import SweepResult
    from .experiments.vs import VersusResult
    from .store import Session
    from .tree import LoomError


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'loom' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
