"""Samplers on a batch of logits (torch): the cap, temperature, top-k, top-p,
min-p and XTC ("exclude top choices"). The cap and XTC remove the most likely
tokens, to push a model out of its attractor: the cap every token the model
gives more than a probability (the essay's "remove the ultra-likely tokens and
renormalise"), XTC all but one of several top choices, now and then.

They change only what is sampled: the logprob stored with a token is always
the model's own (the backend takes it from the raw logits)."""

from __future__ import annotations

import torch

from ..tree import GenerationParams


def processed_probs(
    logits: torch.Tensor, params: GenerationParams, xtc_coins: torch.Tensor | None = None
) -> torch.Tensor:
    """Probabilities after the sampler chain, rows normalised. `logits` is (batch, vocab).

    `xtc_coins` (batch,) in [0, 1): XTC acts on a row when its coin is below
    `xtc_probability`. Never removes every candidate.

    The cap comes first, on the model's own probabilities (before temperature:
    the probability loom stores and colours), so the samplers after it work on
    the renormalised rest."""
    logits = cap_logits(logits.float(), params.cap)
    temp = max(params.temperature, 1e-5)
    logits = logits / temp
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


def cap_logits(logits: torch.Tensor, cap: float) -> torch.Tensor:
    """`logits` (batch, vocab) with every token whose probability (their softmax)
    is above `cap` set to -inf, so that the softmax after it renormalises what is
    left. `cap` 1 changes nothing. A row where every possible token is above the
    cap (one token holds all the mass, or at most 1/cap tokens share it) keeps the
    least likely of them: there is always a token to sample."""
    if cap >= 1:
        return logits
    logits = logits.float()
    above = logits.softmax(-1) > cap
    # a token the model cannot emit (-inf) is not a candidate to keep
    left = (~above & torch.isfinite(logits)).any(-1)
    if not left.all():
        least = logits.masked_fill(~above, float("inf")).argmin(-1, keepdim=True)
        keep = torch.zeros_like(above).scatter(-1, least, True) & ~left.unsqueeze(-1)
        above &= ~keep
    return logits.masked_fill(above, float("-inf"))


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
