"""Confidence intervals for the numbers a report prints.

- wilson(): the 95% Wilson score interval for a rate k/n. Unlike the normal
  ("Wald") interval it stays inside [0, 1] and is not zero-width at k=0 or k=n,
  which matters for attractor rates near 0% or 100%.
- bootstrap(): a percentile bootstrap over samples with a fixed seed, so the
  same samples always give the same interval.
Pure functions on plain numbers (numpy only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 200

#: sample indices, as bootstrap() hands them to a statistic
Indices: TypeAlias = npt.NDArray[np.intp]


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (lo, hi) for k successes in n trials (real
    counts allowed: an effective sample size, see forks.mix)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"a rate needs 0 <= k <= n (got k={k}, n={n})")
    if n == 0:
        return (0.0, 1.0)  # no data: every rate is possible
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # exact at the ends (rounding would leave 1e-17 or 0.9999999999999999)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


@dataclass
class Rate:
    """k of n, as a share with its 95% Wilson interval."""

    k: int
    n: int
    rate: float
    lo: float
    hi: float

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        lo, hi = wilson(k, n)
        return cls(int(k), int(n), k / n if n else 0.0, float(lo), float(hi))

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "rate": float(self.rate), "lo": float(self.lo), "hi": float(self.hi)}


@dataclass
class Estimate:
    """A statistic of the whole field of samples with a percentile bootstrap
    interval (lo, hi); lo = hi = value when there is nothing to resample."""

    value: float
    lo: float
    hi: float
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": float(self.value),
            "lo": float(self.lo),
            "hi": float(self.hi),
            "resamples": int(self.resamples),
        }


def bootstrap(
    statistic: Callable[[Indices], float],
    n: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
    centred: bool = False,
    floor: float | None = None,
) -> Estimate:
    """`statistic(indices)` on all n samples, and the percentile interval of it
    over `resamples` draws of n indices with replacement (seeded: reproducible).

    `centred` shifts the bootstrap values by their bias (their mean minus the
    estimate) first. For diversity statistics resampling with replacement
    duplicates samples, which by itself lowers entropy and the Vendi score, so
    the plain percentile interval can lie wholly below the estimate; centred,
    it shows the estimate's spread around itself. `floor` clips the interval
    at the statistic's least possible value."""
    if n <= 0:
        raise ValueError("bootstrap needs at least one sample")
    if not 0 < level < 1:
        raise ValueError(f"interval level must be between 0 and 1 (got {level!r})")
    value = float(statistic(np.arange(n)))
    if n == 1 or resamples <= 0:
        return Estimate(value, value, value, 0)
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)], dtype=float)
    if centred:
        stats -= stats.mean() - value
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    if floor is not None:
        lo, hi = max(lo, floor), max(hi, floor)
    return Estimate(value, float(lo), float(hi), int(resamples))
