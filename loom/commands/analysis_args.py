"""Arguments and helpers shared by the analysis commands (multiverse, dist, score, vs)."""

from __future__ import annotations

import argparse


def add_node_args(p: argparse.ArgumentParser, model: bool = True) -> None:
    p.add_argument("session", help="session name or path")
    p.add_argument("--node", type=int, help="node id (default: the current node)")
    if model:
        p.add_argument("--model", default=None, help="model (default: the session's last model, else demo)")


def node_text(session, args):
    """The chosen node's id and its context (token ids where a model wrote them)."""
    from ..experiments.context import path_context
    from .common import target_node

    node_id = target_node(session, args)
    return node_id, path_context(session, node_id)


def model_ref(session, args) -> str:
    from .common import model_ref as ref

    return ref(session, args)


def bar(prob: float, width: int = 40) -> str:
    """A text bar with eighth-block resolution."""
    eighths = round(max(0.0, min(1.0, prob)) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def show_token(text: str) -> str:
    """A token's text with whitespace made visible, quoted."""
    return repr(text)


def theme_named(name: str | None):
    from ..cli import CliError
    from ..themes import DEFAULT_THEME, load_themes

    themes, _ = load_themes()
    key = name or DEFAULT_THEME
    if key not in themes:
        raise CliError(f"no theme {key!r}; themes: {', '.join(sorted(themes))}")
    return themes[key]
