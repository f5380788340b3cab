"""Arguments and helpers shared by the analysis commands (multiverse, dist, score, vs; the attractor
flags of report, forks and global)."""

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


def add_attractor_args(m) -> None:
    """The flags that define attractors and meaning clusters (report, forks, global), on a parser or group."""
    from ..analysis.attractors import DEFAULT_LIKE_SIMILARITY
    from ..analysis.clusters import DEFAULT_ENDING_WORDS, DEFAULT_SIMILARITY

    m.add_argument(
        "--attractor",
        action="append",
        default=[],
        metavar="NAME=/REGEX/",
        help="an attractor by regular expression (case-insensitive), e.g. 'wedding=/wedd|bride|marr/'; repeatable",
    )
    m.add_argument(
        "--attractor-words",
        action="append",
        default=[],
        metavar="NAME=W1,W2",
        help="an attractor by keywords: any of W1,W2 (or all of W1+W2), e.g. 'feast=wedding,feast'; repeatable",
    )
    m.add_argument(
        "--attractor-like",
        action="append",
        default=[],
        metavar="NAME=NODE_OR_TEXT",
        help="an attractor by example: samples whose ending is similar to the node's (or the text's) ending; repeatable",
    )
    m.add_argument(
        "--like-similarity",
        type=float,
        default=DEFAULT_LIKE_SIMILARITY,
        help=f"least similarity to the example for --attractor-like (0-1, default {DEFAULT_LIKE_SIMILARITY:g})",
    )
    m.add_argument(
        "--cluster-similarity",
        type=float,
        default=DEFAULT_SIMILARITY,
        help=f"least mean similarity of endings in one meaning cluster (0-1, default {DEFAULT_SIMILARITY:g})",
    )
    m.add_argument(
        "--cluster-words",
        type=int,
        default=DEFAULT_ENDING_WORDS,
        help=f"words at the end that the meaning clusters compare, 0 = whole text (default {DEFAULT_ENDING_WORDS})",
    )


def attractors_from(args, session) -> list:
    """The attractors the flags define; a --attractor-like node id becomes that node's text."""
    from ..analysis.attractors import AttractorError, parse_like, parse_regex, parse_words, with_example
    from ..cli import CliError

    try:
        out = [parse_regex(a) for a in args.attractor] + [parse_words(a) for a in args.attractor_words]
        for spec in args.attractor_like:
            a = parse_like(spec, args.like_similarity, args.cluster_words)
            if a.node is not None:
                try:
                    a = with_example(a, session.node(a.node).text)
                except KeyError as exc:
                    raise CliError(f"--attractor-like {spec!r}: no node {a.node} in {session.path}") from exc
            out.append(a)
    except AttractorError as exc:
        raise CliError(str(exc)) from exc
    return out
