"""Model vs model: run the same node on two models and sum up how differently
they continue it: mean entropy per token (how open each step was), the share of
tokens the model was over 90% sure of (the essay's sign of an attractor), and
each model's top next-token choice after the node."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, Prompt
from .context import path_context
from .generate import Listener, generate_children
from ..store import Session
from ..tree import Alternative, GenerationParams, Node, Token

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "nodes": [n.id for n in self.nodes], "tokens": self.n_tokens,
            "mean_entropy_bits": self.mean_entropy_bits, "entropy_exact": self.entropy_exact,
            f"share_above_{SURE:g}": self.share_sure,
            "top": None if self.top is None else {"text": self.top.text, "prob": self.top.prob},
            "next_entropy_bits": self.next_entropy_bits,
        }


@dataclass
class Comparison:
    node_id: int
    params: GenerationParams
    models: list[ModelSummary]
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node_id, "params": self.params.to_dict(), "models": [m.to_dict() for m in self.models]}


def entropy_from_alternatives(token: Token) -> float | None:
    """A lower bound on a position's entropy from its top-k alternatives, the
    rest of the mass counted as one outcome (for backends without full distributions)."""
    if not token.alternatives:
        return None
    probs = [a.prob for a in token.alternatives]
    rest = max(0.0, 1.0 - math.fsum(probs))
    return -math.fsum(p * math.log2(p) for p in [*probs, rest] if p > 0)


def token_entropies(backend: Backend, prompt: Prompt, tokens: list[Token]) -> tuple[list[float], bool]:
    """The entropy in bits of the model's distribution at every token of a branch;
    exact when the backend can give distributions after token ids."""
    batched = getattr(backend, "next_token_distributions", None)
    if batched is not None and tokens and all(t.token_id is not None for t in tokens):
        ids = [t.token_id for t in tokens]
        dists = batched(prompt, [ids[:i] for i in range(len(ids))], 1)
        return [d.entropy_bits for d in dists if d.entropy_bits is not None], True
    values = [e for e in (entropy_from_alternatives(t) for t in tokens) if e is not None]
    return values, False


def summarise(backend: Backend, prompt: Prompt, nodes: list[Node]) -> ModelSummary:
    summary = ModelSummary(backend.name, list(nodes))
    entropies: list[float] = []
    probs: list[float] = []
    for node in nodes:
        toks = node.tokens or []
        values, exact = token_entropies(backend, prompt, toks)
        summary.entropy_exact &= exact
        entropies += values
        probs += [t.prob for t in toks if t.prob is not None]
    summary.n_tokens = sum(len(n.tokens or ()) for n in nodes)
    summary.mean_entropy_bits = math.fsum(entropies) / len(entropies) if entropies else None
    summary.share_sure = sum(p > SURE for p in probs) / len(probs) if probs else None
    dist = backend.next_token_distribution(prompt, 5)
    summary.top = dist.alternatives[0] if dist.alternatives else None
    summary.next_entropy_bits = dist.entropy_bits
    return summary


def compare_models(
    session: Session,
    backends: list[Backend],
    node_id: int,
    params: GenerationParams,
    *,
    cancel: threading.Event | None = None,
    listener: Listener | None = None,
) -> Comparison:
    """Generate `params.n` branches from `node_id` on each backend (same seeds,
    committed to the tree as ordinary children), summarise each model, and keep
    the result as a "versus" record of the session."""
    params = params.validate()
    if params.seed is None:
        import secrets

        params = params.replace(seed=secrets.randbelow(2**31))
    prompt = path_context(session, node_id)
    names = [b.name for b in backends]
    result = Comparison(node_id, params, [])
    for backend in backends:
        if cancel is not None and cancel.is_set():
            break
        run = generate_children(
            session, backend, node_id, params.replace(model=backend.name), cancel=cancel, listener=listener,
            prompt=prompt, meta={"versus": names},
        )
        result.notices += run.notices
        result.models.append(summarise(backend, prompt, run.nodes))
    if result.models:
        session.add_record("versus", node_id, params.to_dict(), result.to_dict())
    return result


def attractor_rate(
    backend: Backend, prompts: list[str], words: tuple[str, ...], *, n: int = 8, max_tokens: int = 32,
    temperature: float = 1.0, seed: int = 0,
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
