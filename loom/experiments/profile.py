"""A path's profile: every token the models wrote along the path to a node,
with the probability it was sampled at and the entropy of the distribution
it came from (`loom show --plot/--csv`, `loom.profile()`).

Without a model, the numbers are the stored ones: each token's probability,
and an entropy lower bound from its stored top-k alternatives (the rest of
the mass counted as one outcome); nothing is computed anew, so nothing is
stored. With a model, the entropy is exact, from that model's whole
distribution at every token, read from the same token ids (contexts are never
re-tokenised), and the result is stored as a "profile" record with the
model's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..store import Session
from .base import Result, store
from .context import path_context
from .vs import SURE, entropy_from_alternatives, token_entropies

#: the columns of rows(), in order
COLUMNS = (
    "position",
    "node",
    "index",
    "token_id",
    "token",
    "prob",
    "logprob",
    "entropy_bits",
    "entropy_exact",
    "sure",
    "alternatives",
)


@dataclass
class ProfileResult(Result):
    kind = "profile"

    node_id: int
    tokens: list[dict[str, Any]]  # one per token along the path, the keys of COLUMNS
    model: dict[str, Any] | None = None  # the identity of the model the entropies come from; None: stored numbers
    notices: list[str] = field(default_factory=list)
    record: int | None = None

    @property
    def exact(self) -> bool:
        """Whether every entropy is exact (a model's whole distribution), not a lower bound."""
        return bool(self.tokens) and all(t["entropy_exact"] for t in self.tokens)

    def rows(self) -> list[dict[str, Any]]:
        """One row per token along the path: where it is, its probability and the entropy (bits) it was sampled from."""
        return [dict(t) for t in self.tokens]

    def to_dict(self) -> dict[str, Any]:
        probs = [t["prob"] for t in self.tokens if t["prob"] is not None]
        ents = [t["entropy_bits"] for t in self.tokens if t["entropy_bits"] is not None]
        return {
            "node": self.node_id,
            "model_id": self.model,
            "entropy_exact": self.exact,
            "tokens": len(self.tokens),
            "mean_entropy_bits": sum(ents) / len(ents) if ents else None,
            f"share_above_{SURE:g}": sum(p > SURE for p in probs) / len(probs) if probs else None,
            "rows": self.rows(),
            "notices": self.notices,
            "record": self.record,
        }

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: the probability of each token written along the path
        and the entropy it was sampled from; also written to `path` (PNG or SVG) when given."""
        from ..render.profiles import path_figure

        label = (
            f"entropy (bits, {self.model['name']})"
            if self.model and self.exact
            else "entropy (bits; a lower bound\nfrom the stored top-k)"
            if not self.model
            else f"entropy (bits, {self.model['name']};\nsome lower bounds)"
        )
        return path_figure(
            self.rows(), path, f"the path to node {self.node_id}: {len(self.tokens)} model-written tokens", label
        )


def path_profile(session: Session, node_id: int, backend: Backend | None = None, *, save: bool = True) -> ProfileResult:
    """The profile of the path to `node_id` (its model-written nodes' tokens).
    `backend`: exact entropies from that model at the nodes it wrote (stored as a
    record); None, or a node another model wrote: lower bounds from the stored alternatives."""
    tokens: list[dict[str, Any]] = []
    notices: list[str] = []
    for node in session.path_nodes(node_id):
        if not node.tokens:
            continue
        toks = node.tokens
        ents: list[float | None] = []
        exact = False
        if backend is not None and node.model == backend.name and node.parent_id is not None:
            # the node's own sampled ids after its path's context: the model's distribution where each token was drawn
            ents, exact = token_entropies(backend, path_context(session, node.parent_id), toks)
        if not exact:
            ents = [entropy_from_alternatives(t) for t in toks]
            if backend is not None:
                why = (
                    f"written by {node.model}"
                    if node.model != backend.name
                    else f"{backend.name} cannot give its whole distribution after token ids"
                )
                notices.append(f"node {node.id} ({why}): entropies are lower bounds from its stored alternatives")
        for i, t in enumerate(toks):
            tokens.append(
                {
                    "position": len(tokens),
                    "node": node.id,
                    "index": i,
                    "token_id": t.token_id,
                    "token": t.text,
                    "prob": t.prob,
                    "logprob": t.logprob,
                    "entropy_bits": ents[i] if i < len(ents) else None,
                    "entropy_exact": exact,
                    "sure": t.prob is not None and t.prob > SURE,
                    "alternatives": len(t.alternatives),
                }
            )
    result = ProfileResult(node_id, tokens, None if backend is None else backend.identity(), notices)
    if backend is not None and save and tokens:
        store(session, result, node_id, {"model": result.model})
    return result
