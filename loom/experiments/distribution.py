"""The next-token distribution at a place in the tree: after a node, or
before one of its tokens, from exactly the context the model had there
(`loom dist`, the app's d, `loom.distribution()`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.base import Backend
from ..store import Session
from ..tree import Distribution, LoomError, Token
from .base import Result, store
from .context import path_context, token_context

MAX_K = 100


class DistributionError(LoomError, ValueError):
    """The distribution cannot be taken there; the message says why."""


@dataclass
class DistributionResult(Result):
    kind = "distribution"

    node_id: int
    token: int | None  # the node's token it comes before; None: after the whole node
    distribution: Distribution
    model: dict[str, Any]  # the backend's identity
    k: int
    context: dict[str, Any]  # how the model got the context (token ids or text)
    sampled: Token | None = None  # the token that was sampled there (with --token)
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.distribution
        return {
            "node": self.node_id,
            "token": self.token,
            "model": self.model.get("name"),
            "model_id": self.model,
            "k": self.k,
            "entropy_bits": d.entropy_bits,
            "context": self.context,
            "top_mass": sum(a.prob for a in d.alternatives),
            "alternatives": [
                {"text": a.text, "id": a.token_id, "prob": a.prob, "logprob": a.logprob} for a in d.alternatives
            ],
            "sampled": None
            if self.sampled is None
            else {"text": self.sampled.text, "id": self.sampled.token_id, "logprob": self.sampled.logprob},
            "record": self.record,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per token of the top k, most likely first."""
        sampled_id = None if self.sampled is None else self.sampled.token_id
        return [
            {
                "node": self.node_id,
                "position": self.token,
                "rank": i,
                "token_id": a.token_id,
                "text": a.text,
                "prob": a.prob,
                "logprob": a.logprob,
                "sampled": sampled_id is not None and a.token_id == sampled_id,
            }
            for i, a in enumerate(self.distribution.alternatives, 1)
        ]


def distribution(
    session: Session, backend: Backend, node_id: int, *, token: int | None = None, k: int = 10, save: bool = True
) -> DistributionResult:
    """The top `k` next tokens (and the entropy of the whole distribution) after
    `node_id`, or before its token `token`: the context the model had when it
    sampled that token (the node's own ids before it, never re-tokenised text)."""
    if not 1 <= k <= MAX_K:
        raise DistributionError(f"k must be from 1 to {MAX_K} (got {k})")
    node = session.node(node_id)
    sampled = None
    if token is None:
        context = path_context(session, node_id)
    else:
        toks = node.tokens or []
        if not toks:
            raise DistributionError(
                f"node {node_id} has no tokens (it was not written by a model); take the distribution after it instead"
            )
        if not 0 <= token < len(toks):
            raise DistributionError(
                f"node {node_id} has {len(toks)} tokens; the token must be from 0 to {len(toks) - 1}"
            )
        context, sampled = token_context(session, node_id, token), toks[token]
    result = DistributionResult(
        node_id,
        token,
        backend.next_token_distribution(context, k),
        backend.identity(),
        k,
        backend.context_form(context),
        sampled,
    )
    if save:
        store(session, result, node_id, {"model": result.model, "k": k, "token": token})
    return result
