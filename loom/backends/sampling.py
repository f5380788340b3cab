"""Samplers on a batch of logits (torch): temperature, top-k, top-p, min-p and
XTC ("exclude top choices"), which removes the most likely tokens when several
are above a threshold, to push a model out of its attractor."""

from __future__ import annotations

import torch

from ..tree import GenerationParams


def processed_probs(logits: torch.Tensor, params: GenerationParams, xtc_coins: torch.Tensor | None = None) -> torch.Tensor:
    """Probabilities after the sampler chain, rows normalised. `logits` is (batch, vocab).

    `xtc_coins` (batch,) in [0, 1): XTC acts on a row when its coin is below
    `xtc_probability`. Never removes every candidate."""
    temp = max(params.temperature, 1e-5)
    logits = logits.float() / temp
    if params.top_k and params.top_k < logits.shape[-1]:
        kth = logits.topk(params.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        drop_sorted = (sorted_p.cumsum(-1) - sorted_p) >= params.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
    if params.min_p > 0:
        floor = probs.max(-1, keepdim=True).values * params.min_p
        probs = probs.masked_fill(probs < floor, 0.0)
    if params.xtc_probability > 0 and params.xtc_threshold > 0:
        probs = xtc(probs, params.xtc_threshold, params.xtc_probability, xtc_coins)
    return probs / probs.sum(-1, keepdim=True)


def xtc(probs: torch.Tensor, threshold: float, probability: float, coins: torch.Tensor | None) -> torch.Tensor:
    """Remove every token above `threshold` except the least likely of them, in
    rows where at least two are above it and the row's coin comes up."""
    probs = probs / probs.sum(-1, keepdim=True)
    # `> 0`: a tiny threshold rounds to 0 in float32, and a token another
    # sampler already removed must never be the one that survives
    above = (probs >= threshold) & (probs > 0)
    several = above.sum(-1) >= 2
    if coins is None:
        coins = torch.zeros(probs.shape[0])
    act = several & (coins.to(probs.device) < probability)
    if not act.any():
        return probs
    # the least likely token above the threshold survives
    masked = probs.masked_fill(~above, float("inf"))
    keep = masked.argmin(-1, keepdim=True)
    remove = above.clone()
    remove.scatter_(-1, keep, False)
    remove &= act.unsqueeze(-1)
    return probs.masked_fill(remove, 0.0)
