"""The one resolver of model and generation settings, used by every command and app action.

Each value comes from the first place that sets it: the command's flag, then
the session's own settings, then the model's profile, then the config file,
then loom's defaults. The result says where each value came from, so `--json`
output, the app's settings and every stored node can be traced to it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..store import Session, default_sessions_dir
from ..tree import GenerationParams

FIELDS = [f.name for f in fields(GenerationParams) if f.name != "model"]


@dataclass
class Resolved:
    model: str
    params: GenerationParams
    sources: dict[str, str] = field(default_factory=dict)  # "model" and each parameter -> where it came from

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "params": self.params.to_dict(), "sources": dict(self.sources)}


def resolve(
    session: Session | None,
    *,
    model: str | None = None,
    flags: dict[str, Any] | None = None,
    experiment: dict[str, Any] | None = None,
    config: Config | None = None,
) -> Resolved:
    """Model and validated parameters for one run. `flags` are the values the
    user gave on this command (None: not given); `experiment` are an
    experiment's own defaults (a report's 40 samples), used where no flag is
    given, above the session's branch settings. Raises ParamError on a bad value."""
    config = config or load_config()
    sources: dict[str, str] = {}
    state_model = session.get_state("model") if session is not None else None
    if model:
        ref, sources["model"] = model, "flag"
    elif state_model:
        ref, sources["model"] = state_model, "session"
    else:
        ref, sources["model"] = config.model, f"config {config.path}" if config.exists else "default"
    profile = config.profiles.get(ref)
    saved = (session.get_state("params") or {}) if session is not None else {}
    layers = [
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
        ("experiment", dict(experiment or {})),
        ("session", dict(saved)),
        (f"profile {ref}", dict(profile.params) if profile else {}),
        (f"config {config.path}", dict(config.generation)),
    ]
    values: dict[str, Any] = {}
    for name in FIELDS:
        for where, layer in layers:
            if name in layer:
                values[name], sources[name] = layer[name], where
                break
        else:
            sources[name] = "default"
    params = GenerationParams().replace(**values, model=ref).validate()
    return Resolved(ref, params, sources)


def sessions_dir(flag: str | None = None) -> Path:
    """Where session names live: the --sessions-dir flag, then $LOOM_SESSIONS_DIR,
    then the config file's sessions_dir, then loom's default (store.default_sessions_dir)."""
    if flag:
        return Path(flag).expanduser()
    if not os.environ.get("LOOM_SESSIONS_DIR"):
        configured = load_config().sessions_dir
        if configured:
            return Path(configured)
    return default_sessions_dir()
