"""Forking tokens and the point of no return along a path (the forking-tokens
method of Bigelow et al., "Forking Paths in Neural Text Generation", ICLR 2025).

At position t of a path, o_t is the chance that the text, continued from the
path's first t tokens, ends in the outcome of interest (an attractor, or a
meaning cluster). It is estimated by resampling: the path's token at t and its
most likely alternatives w are each continued m times, and o_t is the mixture
of their rates r_w weighted by the model's probabilities p(w), renormalised
over the tokens evaluated (mix()).

- mix(): the mixture rate, with a 95% Wilson interval at Kish's effective
  sample size 1 / sum(w^2 / n) (a stratified sample: each alternative is a
  stratum of n continuations with weight w).
- changes(): the change-point test over the series o_0, o_1, ...: at each
  position t, did choosing the path's token move the rate from o_t to o_t+1?
  o_t+1, the rate given the path up to and including the token, is estimated
  by the token's own continuations; o_t is the mixture of those with its
  alternatives', so o_t+1 - o_t = (1 - p)(r_token - r_alternatives), and the
  test is a pooled two-proportion z-test of the token's continuations against
  its alternatives' (independent samples, at the alternatives' effective
  sample size), Holm-corrected over the positions tested. A fork (a forking
  token): corrected p below alpha and a move of at least min_change. Testing
  within the position rather than against the next one pins the change on one
  token, also with a stride, and shares no samples between the two sides.
- point_of_no_return(): the first position from which every evaluated
  position's rate is at least a share (0.9): the basin's edge.
Pure functions on plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .intervals import wilson

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_CHANGE = 0.2
DEFAULT_SHARE = 0.9


@dataclass(frozen=True)
class Mixed:
    """A position's outcome rate: the probability-weighted mixture of its
    alternatives' rates, with its interval at the effective sample size."""

    rate: float
    n_eff: float
    lo: float
    hi: float
    mass: float  # the model's probability of the tokens evaluated (before renormalising)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": float(self.rate),
            "n_eff": float(self.n_eff),
            "lo": float(self.lo),
            "hi": float(self.hi),
            "mass": float(self.mass),
        }


def mix(branches: list[tuple[float, int, int]]) -> Mixed:
    """The mixture of (probability, hits, samples) per alternative. Alternatives
    with no samples are left out; with none left the rate is 0 of 0 (interval 0-1)."""
    used = [(p, k, n) for p, k, n in branches if n > 0]
    mass = sum(p for p, _, _ in used)
    if not used:
        return Mixed(0.0, 0.0, 0.0, 1.0, 0.0)
    if mass <= 0:  # no probabilities to weight by: equal weights
        used = [(1.0, k, n) for _, k, n in used]
        total = float(len(used))
    else:
        total = mass
    weights = [p / total for p, _, _ in used]
    rate = min(1.0, max(0.0, sum(w * k / n for w, (_, k, n) in zip(weights, used))))
    n_eff = 1.0 / sum(w * w / n for w, (_, _, n) in zip(weights, used) if w > 0)
    lo, hi = wilson(rate * n_eff, n_eff)  # real (effective) counts: Wilson's formula takes them
    return Mixed(rate, n_eff, lo, hi, mass)


def two_proportion_test(r1: float, n1: float, r2: float, n2: float) -> tuple[float, float]:
    """(z, two-sided p-value) of the pooled two-proportion z-test of rates r1 and
    r2 from (effective) sample sizes n1 and n2. Equal rates, or no spread at all
    (both 0% or both 100%), give z = 0 and p = 1."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (r1 * n1 + r2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0 or r1 == r2:
        return 0.0, 1.0
    z = (r2 - r1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate over all tests)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Change:
    """What choosing the path's token at a position did to the outcome rate:
    from `before` (o_t, the mixture over the token and its alternatives) to
    `after` (o_t+1, the rate of the path's token's own continuations), tested
    on the token's continuations against its alternatives' (`others`)."""

    index: int
    before: float
    after: float
    others: float  # the alternatives' mixed rate (nan when none was continued)
    z: float
    p_value: float
    p_adjusted: float
    fork: bool

    @property
    def change(self) -> float:
        return self.after - self.before

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": int(self.index),
            "before": float(self.before),
            "after": float(self.after),
            "change": float(self.change),
            "others": None if math.isnan(self.others) else float(self.others),
            "z": float(self.z),
            "p_value": float(self.p_value),
            "p_adjusted": float(self.p_adjusted),
            "fork": bool(self.fork),
        }


def check_test(alpha: float, min_change: float) -> None:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"the significance level alpha must be between 0 and 1 (got {alpha!r})")
    if not (isinstance(min_change, (int, float)) and 0 <= min_change <= 1):
        raise ValueError(f"the least change of the rate must be from 0 to 1 (got {min_change!r})")


Branches = list[tuple[float, int, int]]  # (probability, hits, samples) per token, the path's own token first


def changes(
    series: list[Branches], alpha: float = DEFAULT_ALPHA, min_change: float = DEFAULT_MIN_CHANGE
) -> list[Change]:
    """The change-point test along a path: at each position, did choosing the
    path's token (the first of its branches) move the outcome rate from o_t to
    o_t+1? o_t - o_t+1 = (1 - p) (r_token - r_others), so the test is the
    pooled two-proportion z-test of the token's continuations against its
    alternatives' (independent samples), with p-values Holm-corrected over
    the positions tested (those with alternatives continued). A fork: corrected
    p below `alpha` and a move of the rate of at least `min_change`."""
    check_test(alpha, min_change)
    # (o_t, o_t+1, the alternatives' rate, z, p-value, tested) per position
    tests: list[tuple[float, float, float, float, float, bool]] = []
    for branches in series:
        whole = mix(branches)
        p, k, n = branches[0]
        after = k / n if n else whole.rate
        rest = mix(branches[1:])
        tested = n > 0 and rest.n_eff > 0
        z, pv = two_proportion_test(rest.rate, rest.n_eff, after, n) if tested else (0.0, 1.0)
        tests.append((whole.rate, after, rest.rate if rest.n_eff > 0 else math.nan, z, pv, tested))
    adjusted = iter(holm([t[4] for t in tests if t[5]]))
    out = []
    for i, (before, after, others, z, pv, tested) in enumerate(tests):
        q = next(adjusted) if tested else 1.0
        out.append(
            Change(
                i, before, after, others, z, pv, q, tested and q < alpha and abs(after - before) >= min_change - 1e-12
            )
        )
    return out


def check_share(share: float) -> None:
    if not (isinstance(share, (int, float)) and 0 < share <= 1):
        raise ValueError(f"the share for the point of no return must be above 0 and at most 1 (got {share!r})")


def point_of_no_return(rates: list[float], share: float = DEFAULT_SHARE) -> int | None:
    """The index of the first rate from which every later rate (itself included)
    is at least `share`; None when the last one is below it (or there are none)."""
    check_share(share)
    first = None
    for i in range(len(rates) - 1, -1, -1):
        if rates[i] < share:
            break
        first = i
    return first


def mix_shares(branches: list[tuple[float, list[int]]]) -> dict[int, float]:
    """The mixed outcome distribution over categories (meaning clusters): for
    each alternative its probability and its samples' labels; each
    alternative's share of a label weighted by its probability, renormalised."""
    used = [(p, labels) for p, labels in branches if labels]
    mass = sum(p for p, _ in used)
    out: dict[int, float] = {}
    for p, labels in used:
        w = p / mass if mass > 0 else 1 / len(used)
        for lab in labels:
            out[lab] = out.get(lab, 0.0) + w / len(labels)
    return dict(sorted(out.items()))
