"""Collapse versus temperature: how much of a tuned model's sharpening one
temperature on the base model explains.

At each position, A is the tuned model's next-token distribution and B the
base model's, over the same vocabulary. B at temperature T is
B_T = softmax(log B / T). The fit finds the T that brings B_T closest to A
(smallest KL(A || B_T)), one T for all positions together and one per
position, and what KL is left at that T.

The search is exact, not a tolerance game: with beta = 1/T,
KL(A || B_beta) = sum_x A(x) (log A(x) - beta l(x)) + logsumexp(beta l),
l = log B, whose derivative in beta is E_{B_beta}[l] - E_A[l] and whose
second derivative is Var_{B_beta}[l] >= 0. KL is convex in beta (summed over
positions too), so the best beta is where that derivative changes sign:
bisection on its sign, within the bounds. Numbers are in bits.

Pure: arrays of log-probabilities in, plain data out (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

#: the temperatures the fit searches between; a best T at a bound is flagged
T_BOUNDS = (0.05, 20.0)
BISECTIONS = 64  # halvings of the log(beta) interval: far below float precision at the end
LN2 = math.log(2)
FLAT = 1e-12  # nats: a derivative this small at T=1 is zero (a model against itself gives T=1 exactly)

Floats: TypeAlias = npt.NDArray[np.float64]


class FitError(ValueError):
    """The distributions cannot be compared (shapes, bounds, a KL infinite at every T)."""


def log_normalise(x: Any) -> Floats:
    """Rows of logits or log-probabilities as log-probabilities (float64)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    top = np.max(a, axis=-1, keepdims=True)
    return cast(
        Floats, a - (top + np.log(np.sum(np.exp(a - top), axis=-1, keepdims=True)))
    )  # numpy types max/sum as Any


def _expect(logp: Floats, values: Floats) -> Floats:
    """E_p[values] per row, with 0 * (-inf) taken as 0 (tokens a model rules out)."""
    p = np.exp(logp)
    return cast(Floats, np.sum(np.where(p > 0, p * values, 0.0), axis=-1))


def entropy_bits(logp: Floats) -> Floats:
    """The entropy of each row's distribution, in bits."""
    return -_expect(logp, logp) / LN2


def kl_bits(logp_a: Floats, logp_b: Floats) -> Floats:
    """KL(A || B) per row, in bits (inf where B rules out a token A gives mass to)."""
    with np.errstate(invalid="ignore"):
        return np.maximum(_expect(logp_a, logp_a - logp_b) / LN2, 0.0)  # >= 0; rounding can dip below


def tempered(logp_b: Floats, t: float | Floats) -> Floats:
    """B at temperature t (a number, or one per row): log softmax(log B / t)."""
    ts = np.asarray(t, dtype=np.float64)
    return log_normalise(logp_b / (ts[:, None] if ts.ndim else ts))


def _slope(logp_b: Floats, beta: Floats, mean_a: Floats) -> Floats:
    """d KL / d beta per row at beta (one per row): E_{B_beta}[l] - E_A[l]."""
    return _expect(log_normalise(logp_b * beta[:, None]), logp_b) - mean_a


def _bisect(slope: Callable[[Floats], Floats], lo: Floats, hi: Floats) -> Floats:
    """The root of an increasing `slope(beta)` per group, bisected in log(beta) and
    clamped to [lo, hi] where the slope has one sign over the whole interval."""
    a, b = np.log(lo), np.log(hi)
    s_lo, s_hi = slope(lo), slope(hi)
    for _ in range(BISECTIONS):
        mid = (a + b) / 2
        up = slope(np.exp(mid)) > 0
        b, a = np.where(up, mid, b), np.where(up, a, mid)
    beta = np.exp((a + b) / 2)
    beta = np.where(s_lo >= 0, lo, beta)  # KL grows from the smallest beta (the highest T) on
    return np.where(s_hi <= 0, hi, beta)  # KL still falls at the largest beta (the lowest T)


@dataclass(frozen=True)
class TemperatureFit:
    """Per position (lists, one value per position) and in summary; KL and entropy in bits."""

    entropy_a: list[float]
    entropy_b: list[float]
    kl_t1: list[float]  # KL(A || B) as B is
    best_t: list[float]  # the T that brings B closest to A at this position alone
    kl_best: list[float]  # KL(A || B_T) at that position's own best T
    kl_at_global_t: list[float]  # KL(A || B_T) at the one T fitted to all positions
    global_t: float
    bounds: tuple[float, float]

    @property
    def positions(self) -> int:
        return len(self.kl_t1)

    def best_t_at_bound(self) -> list[bool]:
        return [_at_bound(t, self.bounds) for t in self.best_t]

    def summary(self) -> dict[str, Any]:
        """Totals are sums over the positions; shares are of the KL at T=1 (None when that is 0)."""
        n = self.positions
        kl_t1, resid, best = math.fsum(self.kl_t1), math.fsum(self.kl_at_global_t), math.fsum(self.kl_best)
        explained = None if kl_t1 <= 0 else 1 - resid / kl_t1
        return {
            "positions": n,
            "unit": "bits",
            "t_bounds": list(self.bounds),
            "global_t": self.global_t,
            "global_t_at_bound": _at_bound(self.global_t, self.bounds),
            "kl_t1": kl_t1,
            "kl_residual": resid,
            "share_explained": explained,
            "kl_t1_mean": kl_t1 / n,
            "kl_residual_mean": resid / n,
            "kl_best_per_position": best,
            "share_explained_per_position": None if kl_t1 <= 0 else 1 - best / kl_t1,
            "median_best_t": float(np.median(self.best_t)),
            "entropy_a_mean": math.fsum(self.entropy_a) / n,
            "entropy_b_mean": math.fsum(self.entropy_b) / n,
        }


def _at_bound(t: float, bounds: tuple[float, float]) -> bool:
    return math.isclose(t, bounds[0], rel_tol=1e-9) or math.isclose(t, bounds[1], rel_tol=1e-9)


def fit_temperature(logp_a: Any, logp_b: Any, bounds: tuple[float, float] = T_BOUNDS) -> TemperatureFit:
    """Fit the temperature on B that best explains A, per position and for all
    positions at once. `logp_a`, `logp_b`: arrays (positions x vocabulary) of
    log-probabilities or logits, the same token at the same column in both."""
    lo_t, hi_t = float(bounds[0]), float(bounds[1])
    if not (0 < lo_t < 1 < hi_t and math.isfinite(hi_t)):
        raise FitError(f"the temperature bounds must satisfy 0 < low < 1 < high (got {lo_t:g}, {hi_t:g})")
    a, b = log_normalise(logp_a), log_normalise(logp_b)
    if a.shape != b.shape:
        raise FitError(
            f"the two models' distributions differ in shape: {a.shape} and {b.shape} "
            "(positions x vocabulary); they must be over the same tokens at the same positions"
        )
    if a.shape[0] == 0 or a.shape[1] < 2:
        raise FitError("no positions to compare" if a.shape[0] == 0 else "a vocabulary needs at least two tokens")
    if np.isnan(a).any() or np.isnan(b).any():
        raise FitError("a distribution holds NaN (the model's logits were not finite)")
    kl1 = kl_bits(a, b)
    if not np.all(np.isfinite(kl1)):
        where = int(np.flatnonzero(~np.isfinite(kl1))[0])
        raise FitError(
            f"at position {where} model B gives probability 0 to a token model A can emit: "
            "KL(A || B_T) is infinite at every temperature"
        )
    mean_a = _expect(a, b)  # E_A[log B] per row, the part of the slope that does not move with beta
    rows = a.shape[0]
    lo, hi = np.full(rows, 1 / hi_t), np.full(rows, 1 / lo_t)
    beta = _bisect(lambda x: _slope(b, x, mean_a), lo, hi)
    beta = np.where(np.abs(_slope(b, np.ones(rows), mean_a)) <= FLAT, 1.0, beta)
    glo, ghi = np.array([1 / hi_t]), np.array([1 / lo_t])

    def total(x: Floats) -> Floats:
        return np.array([np.sum(_slope(b, np.full(rows, x[0]), mean_a))])

    g = 1.0 if abs(total(np.ones(1))[0]) <= FLAT * rows else float(_bisect(total, glo, ghi)[0])
    best_t = 1 / beta
    return TemperatureFit(
        entropy_a=entropy_bits(a).tolist(),
        entropy_b=entropy_bits(b).tolist(),
        kl_t1=kl1.tolist(),
        best_t=best_t.tolist(),
        kl_best=kl_bits(a, tempered(b, best_t)).tolist(),
        kl_at_global_t=kl_bits(a, tempered(b, 1 / g)).tolist(),
        global_t=1 / g,
        bounds=(lo_t, hi_t),
    )
