"""Model vs model: run the same node on two models and sum up how differently
they continue it: mean entropy per token (how open each step was), the share of
tokens the model was over 90% sure of (the essay's sign of an attractor), and
each model's top next-token choice after the node."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.multiverse import Multiverse
from ..backends.base import Backend, Prompt
from ..store import Session
from ..tree import Alternative, Distribution, GenerationParams, Node, Token
from .base import Cancel, Counter, ProgressFn, Result, cancelled, store
from .context import path_context
from .generate import Listener, generate_children
from .multiverse import expand

SURE = 0.9


@dataclass
class ModelSummary:
    model: str
    nodes: list[Node] = field(default_factory=list)
    n_tokens: int = 0
    mean_entropy_bits: float | None = None
    entropy_exact: bool = True  # False: estimated from each token's top-k alternatives
    share_sure: float | None = None  # share of tokens with probability above SURE
    top: Alternative | None = None  # most likely next token after the node
    next_entropy_bits: float | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # the backend's identity
    entropies: dict[int, list[float | None]] = field(default_factory=dict)  # node id -> per token, in bits
    next_tokens: Distribution | None = None  # the top next tokens after the node
    multiverse: Multiverse | None = None  # the block multiverse after the node (with views=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_id": self.identity,
            "nodes": [n.id for n in self.nodes],
            "tokens": self.n_tokens,
            "mean_entropy_bits": self.mean_entropy_bits,
            "entropy_exact": self.entropy_exact,
            f"share_above_{SURE:g}": self.share_sure,
            "top": None if self.top is None else {"text": self.top.text, "prob": self.top.prob},
            "next_entropy_bits": self.next_entropy_bits,
            "next_tokens": []
            if self.next_tokens is None
            else [{"text": a.text, "id": a.token_id, "prob": a.prob} for a in self.next_tokens.alternatives],
        }


@dataclass
class VersusResult(Result):
    kind = "versus"

    node_id: int
    params: GenerationParams
    models: list[ModelSummary]
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "params": self.params.to_dict(),
            "models": [m.to_dict() for m in self.models],
            "record": self.record,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per token of every branch of both models: its probability and
        the entropy of the distribution it was sampled from."""
        out = []
        for m in self.models:
            for node in m.nodes:
                ents = m.entropies.get(node.id, [])
                for i, t in enumerate(node.tokens or ()):
                    out.append(
                        {
                            "model": m.model,
                            "node": node.id,
                            "seed": (node.params or {}).get("seed"),
                            "index": i,
                            "token_id": t.token_id,
                            "text": t.text,
                            "prob": t.prob,
                            "entropy_bits": ents[i] if i < len(ents) else None,
                            "entropy_exact": m.entropy_exact,
                            "sure": t.prob is not None and t.prob > SURE,
                        }
                    )
        return out

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: each model's entropy at every token of its branches
        (tokens above 90% marked) and the share of such tokens per model; also written
        to `path` (PNG or SVG by the suffix) when given."""
        from ..render.profiles import versus_figure

        models = [
            {
                "model": m.model,
                "mean_entropy_bits": m.mean_entropy_bits,
                "share_sure": m.share_sure,
                "entropy_exact": m.entropy_exact,
                "branches": [
                    {"node": n.id, "entropy": m.entropies.get(n.id, []), "prob": [t.prob for t in n.tokens or ()]}
                    for n in m.nodes
                ],
            }
            for m in self.models
        ]
        return versus_figure(
            models,
            path,
            f"model vs model on node {self.node_id}: entropy along each branch (seed {self.params.seed})",
            SURE,
        )


def entropy_from_alternatives(token: Token) -> float | None:
    """A lower bound on a position's entropy from its top-k alternatives, the
    rest of the mass counted as one outcome (for backends without full distributions)."""
    if not token.alternatives:
        return None
    probs = [a.prob for a in token.alternatives]
    rest = max(0.0, 1.0 - math.fsum(probs))
    return -math.fsum(p * math.log2(p) for p in [*probs, rest] if p > 0)


def token_entropies(backend: Backend, prompt: Prompt, tokens: list[Token]) -> tuple[list[float | None], bool]:
    """The entropy in bits of the model's distribution at every token of a branch
    (None where it cannot be known); exact when the backend can give
    distributions after token ids, else a lower bound from the stored alternatives."""
    batched = getattr(backend, "next_token_distributions", None)
    if batched is not None and tokens and all(t.token_id is not None for t in tokens):
        ids = [t.token_id for t in tokens]
        dists = batched(prompt, [ids[:i] for i in range(len(ids))], 1)
        return [d.entropy_bits for d in dists], True
    return [entropy_from_alternatives(t) for t in tokens], False


def summarise(backend: Backend, prompt: Prompt, nodes: list[Node], *, views: bool = False) -> ModelSummary:
    summary = ModelSummary(backend.name, list(nodes), identity=backend.identity())
    entropies: list[float] = []
    probs: list[float] = []
    for node in nodes:
        toks = node.tokens or []
        values, exact = token_entropies(backend, prompt, toks)
        summary.entropy_exact &= exact
        summary.entropies[node.id] = values
        entropies += [v for v in values if v is not None]
        probs += [t.prob for t in toks if t.prob is not None]
    summary.n_tokens = sum(len(n.tokens or ()) for n in nodes)
    summary.mean_entropy_bits = math.fsum(entropies) / len(entropies) if entropies else None
    summary.share_sure = sum(p > SURE for p in probs) / len(probs) if probs else None
    dist = backend.next_token_distribution(prompt, 8)
    summary.next_tokens = dist
    summary.top = dist.alternatives[0] if dist.alternatives else None
    summary.next_entropy_bits = dist.entropy_bits
    if views:
        summary.multiverse = expand(backend, prompt, 3, 3)
    return summary


def compare_models(
    session: Session,
    backends: list[Backend],
    node_id: int,
    params: GenerationParams,
    *,
    cancel: Cancel | None = None,
    listener: Listener | None = None,
    progress: ProgressFn | None = None,
    views: bool = False,
) -> VersusResult:
    """Generate `params.n` branches from `node_id` on each backend (same seeds,
    committed to the tree as ordinary children), summarise each model, and keep
    the result as a "versus" record of the session. `views` also expands each
    model's block multiverse after the node (the app shows them side by side).
    `progress` counts models done; `cancel` stops, keeping what finished."""
    params = params.validate()
    if params.seed is None:
        import secrets

        params = params.replace(seed=secrets.randbelow(2**31))
    prompt = path_context(session, node_id)
    names = [b.name for b in backends]
    result = VersusResult(node_id, params, [])
    count = Counter(progress, len(backends), "models")
    for backend in backends:
        if cancelled(cancel):
            break
        run = generate_children(
            session,
            backend,
            node_id,
            params.replace(model=backend.name),
            cancel=cancel,
            listener=listener,
            prompt=prompt,
            meta={"versus": names},
        )
        result.notices += run.notices
        result.models.append(summarise(backend, prompt, run.nodes, views=views))
        count.step()
    result.cancelled = cancelled(cancel)
    if result.models:
        store(session, result, node_id, {**params.to_dict(), "models": [m.identity for m in result.models]})
    return result


def attractor_rate(
    backend: Backend,
    prompts: list[str],
    words: tuple[str, ...],
    *,
    n: int = 8,
    max_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
) -> float:
    """The share of sampled continuations (n per prompt) that contain any of
    `words` (case-insensitive): how often a model falls into an attractor."""
    from ..tree import TokenEvent

    hits = total = 0
    params = GenerationParams(n=n, max_tokens=max_tokens, temperature=temperature, seed=seed, logprobs=0)
    for prompt in prompts:
        texts = [""] * n
        for event in backend.generate(prompt, params):
            if isinstance(event, TokenEvent):
                texts[event.branch] += event.token.text
        hits += sum(any(w.lower() in t.lower() for w in words) for t in texts)
        total += n
    return hits / total
