"""A path from the root to a node, as the Python API hands it out: its text,
its tokens with their stored alternatives, a long-form table, and in a
notebook the coloured path itself (`_repr_html_`, the same HTML as
`loom export -f html`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..render.ansi import path_ansi
from ..render.html import path_fragment, path_page
from ..store import Session
from ..themes import LoomTheme, pick_theme
from ..tree import Alternative, Node, Token
from .base import Result


@dataclass
class TokenPath(Result):
    """The nodes from a root to `node`, root first. Not stored: it is read from the session."""

    kind = "path"

    session: str
    node: int
    nodes: list[Node]
    theme: LoomTheme
    record: int | None = None

    @property
    def text(self) -> str:
        return "".join(n.text for n in self.nodes)

    @property
    def tokens(self) -> list[Token]:
        """The model-written tokens along the path, in order (human text has none)."""
        return [t for n in self.nodes for t in n.tokens or ()]

    def rows(self) -> list[dict[str, Any]]:
        """One row per model token, and one per node of human text (token columns empty),
        so the rows' texts join to the path's text. Alternatives in columns alt1_text,
        alt1_prob, ... (as many as the widest token; empty where a token has fewer)."""
        k = max((len(t.alternatives) for t in self.tokens), default=0)
        out: list[dict[str, Any]] = []
        for n in self.nodes:
            base = {"node": n.id, "author": n.author, "model": n.model}
            if not n.tokens:
                out.append(
                    {
                        **base,
                        "index": None,
                        "text": n.text,
                        "token_id": None,
                        "logprob": None,
                        "prob": None,
                        **_alts((), k),
                    }
                )
                continue
            for i, t in enumerate(n.tokens):
                out.append(
                    {
                        **base,
                        "index": i,
                        "text": t.text,
                        "token_id": t.token_id,
                        "logprob": t.logprob,
                        "prob": t.prob,
                        **_alts(t.alternatives, k),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "node": self.node,
            "path": [n.id for n in self.nodes],
            "text": self.text,
            "tokens": [
                {
                    "node": r["node"],
                    "index": r["index"],
                    "text": r["text"],
                    "token_id": r["token_id"],
                    "logprob": r["logprob"],
                }
                for r in self.rows()
                if r["index"] is not None
            ],
        }

    def to_html(self) -> str:
        """A self-contained HTML page of the path (what `loom export -f html` writes)."""
        return path_page(self.nodes, self.theme, title=f"{self.session}: node {self.node}")

    def to_ansi(self) -> str:
        """The path with 24-bit terminal colours (what `loom export -f ansi` writes, without its heading)."""
        return path_ansi(self.nodes, self.theme)

    def _repr_html_(self) -> str:
        return path_fragment(self.nodes, self.theme)

    def __repr__(self) -> str:
        return f"<TokenPath {self.session} node {self.node}: {len(self.nodes)} nodes, {len(self.tokens)} tokens>"


def _alts(alternatives: Sequence[Alternative], k: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for i in range(k):
        a = alternatives[i] if i < len(alternatives) else None
        row[f"alt{i + 1}_text"] = a.text if a else None
        row[f"alt{i + 1}_prob"] = a.prob if a else None
    return row


def token_path(session: Session, node_id: int, theme: LoomTheme | str | None = None) -> TokenPath:
    """The path to `node_id`, coloured with `theme` (a LoomTheme or a name), else the
    config's theme, else loom's default."""
    if not isinstance(theme, LoomTheme):
        from ..config import load_config

        theme = pick_theme(theme, load_config().theme)
    return TokenPath(session.name, node_id, session.path_nodes(node_id), theme)
