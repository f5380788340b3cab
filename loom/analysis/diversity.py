"""How diverse a field of samples is, each measure with a bootstrap interval.

- semantic entropy (Kuhn et al. 2023; Farquhar et al., Nature 2024): the
  entropy of the distribution over meaning clusters. The discrete version
  uses cluster frequencies; the probability-weighted one gives each sample
  its length-normalised probability (exp of its mean token logprob, as
  Farquhar et al.'s code does), sums them per cluster and normalises.
- distinct-k (NoveltyBench, Zhang et al. 2025): the expected number of
  distinct clusters among k samples drawn without replacement from the field.
- Vendi score (Friedman & Dieng 2023): exp of the Shannon entropy of the
  eigenvalues of K/n, K the similarity matrix (1 on the diagonal): the
  effective number of distinct samples, 1 when all are alike, n when all
  are orthogonal.
Entropies are in bits, as the rest of the report. Pure numpy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .clusters import Endings
from .intervals import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Estimate, Indices, bootstrap

DISTINCT_K = 10  # NoveltyBench's k


def _entropy_bits(p: npt.NDArray[np.float64]) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0  # no "-0.0"


def semantic_entropy(labels: list[int]) -> float:
    """Entropy (bits) of the cluster frequencies."""
    if not labels:
        return 0.0
    counts = np.array(list(Counter(labels).values()), dtype=float)
    return _entropy_bits(counts / counts.sum())


def weighted_semantic_entropy(labels: list[int], mean_logprobs: list[float]) -> float:
    """Entropy (bits) of the clusters weighted by each sample's length-normalised
    probability exp(mean token logprob), normalised over the clusters seen."""
    if len(labels) != len(mean_logprobs):
        raise ValueError("one mean logprob per sample is needed")
    if not labels:
        return 0.0
    lp = np.asarray(mean_logprobs, dtype=float)
    w = np.exp(lp - lp.max())  # shifted: the normalisation cancels it, and it cannot underflow to all zeros
    per: dict[int, float] = {}
    for lab, x in zip(labels, w):
        per[lab] = per.get(lab, 0.0) + float(x)
    p = np.array(list(per.values()))
    return _entropy_bits(p / p.sum())


def distinct_k(labels: list[int], k: int = DISTINCT_K) -> float:
    """Expected number of distinct clusters among k of the samples drawn
    without replacement: sum over clusters of 1 - C(n - n_c, k) / C(n, k)."""
    n = len(labels)
    if not 1 <= k <= n:
        raise ValueError(f"distinct-k needs 1 <= k <= the number of samples (got k={k}, n={n})")
    total = math.comb(n, k)
    return float(sum(1 - math.comb(n - c, k) / total for c in Counter(labels).values()))


def vendi(similarity: npt.NDArray[np.float64]) -> float:
    """exp(entropy of the eigenvalues of K/n), K symmetric PSD with unit diagonal."""
    n = similarity.shape[0]
    if n == 0:
        return 0.0
    lam = np.linalg.eigvalsh(np.asarray(similarity, dtype=float) / n)
    lam = lam[lam > 1e-12]  # rounding leaves tiny negatives and zeros: they carry no mass
    lam = lam / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def vendi_counts(vectors: npt.NDArray[np.float64], counts: npt.NDArray[np.intp], alone: npt.NDArray[np.intp]) -> float:
    """vendi() of the similarity matrix of a field given as distinct unit rows
    `vectors` taken `counts` times each, plus `alone` samples alike only to
    themselves (empty endings: their counts), without the n x n matrix.

    K = Z Z^T for the samples' rows Z, so its nonzero eigenvalues are those of
    Z^T Z = sum of count x row row^T (columns x columns), or of the Gram matrix
    of the rows scaled by sqrt(count) (rows x rows), whichever is smaller; a
    sample alike only to itself adds its count as an eigenvalue of its own."""
    n = int(counts.sum() + alone.sum())
    if n == 0:
        return 0.0
    kept = counts > 0
    y = vectors[kept] * np.sqrt(counts[kept])[:, None]
    gram = y.T @ y if y.shape[0] > y.shape[1] else y @ y.T
    lam = np.concatenate([np.linalg.eigvalsh(gram / n), alone[alone > 0] / n])
    lam = lam[lam > 1e-12]  # as vendi(): rounding leaves tiny negatives and zeros
    lam = lam / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def vendi_endings(endings: Endings, vectors: npt.NDArray[np.float64] | None = None) -> Callable[[Indices], float]:
    """The Vendi score of the samples at these indices (repeats allowed), as
    vendi(endings.similarity()[np.ix_(idx, idx)]) gives it; `vectors`: the
    rows or any with the same dot products (Endings.reduced())."""
    rows = endings.rows if vectors is None else vectors
    item = endings.item
    m = len(rows)

    def statistic(idx: Indices) -> float:
        taken = item[idx]
        has = taken >= 0
        return vendi_counts(rows, np.bincount(taken[has], minlength=m), np.bincount(idx[~has]))

    return statistic


@dataclass
class Diversity:
    n: int
    clusters: int
    k: int  # the k of distinct-k (at most n)
    semantic_entropy_bits: Estimate
    weighted_semantic_entropy_bits: Estimate | None  # None without logprobs for every sample
    distinct_k: Estimate
    vendi: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": int(self.n),
            "clusters": int(self.clusters),
            "k": int(self.k),
            "semantic_entropy_bits": self.semantic_entropy_bits.to_dict(),
            "weighted_semantic_entropy_bits": (
                self.weighted_semantic_entropy_bits.to_dict() if self.weighted_semantic_entropy_bits else None
            ),
            "distinct_k": self.distinct_k.to_dict(),
            "vendi": self.vendi.to_dict(),
        }


def measure_diversity(
    labels: list[int],
    similarity: npt.NDArray[np.float64] | Endings,
    mean_logprobs: list[float | None] | None = None,
    *,
    k: int = DISTINCT_K,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Diversity:
    """All measures of one field, each with a percentile bootstrap interval
    over the samples, centred on the estimate (the same seed, so the same
    samples give the same interval). `similarity`: the n x n matrix, or the
    samples' Endings (the same Vendi scores without that matrix)."""
    n = len(labels)
    if n == 0:
        raise ValueError("no samples to measure")
    lab = np.asarray(labels)
    k = min(k, n)

    def estimate(statistic: Callable[[Indices], float], floor: float) -> Estimate:
        # centred: see intervals.bootstrap
        return bootstrap(statistic, n, resamples=resamples, seed=seed, centred=True, floor=floor)

    se = estimate(lambda idx: semantic_entropy(lab[idx].tolist()), floor=0.0)
    wse = None
    if mean_logprobs is not None and len(mean_logprobs) == n and all(x is not None for x in mean_logprobs):
        lp = np.asarray(mean_logprobs, dtype=float)
        wse = estimate(lambda idx: weighted_semantic_entropy(lab[idx].tolist(), lp[idx].tolist()), floor=0.0)
    dk = estimate(lambda idx: distinct_k(lab[idx].tolist(), k), floor=1.0)
    if isinstance(similarity, Endings):
        vs = estimate(vendi_endings(similarity, similarity.reduced()), floor=1.0)
    else:
        sim = similarity
        vs = estimate(lambda idx: vendi(sim[np.ix_(idx, idx)]), floor=1.0)
    return Diversity(n, len(set(labels)), k, se, wse, dk, vs)
