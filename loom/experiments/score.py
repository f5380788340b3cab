"""Scored candidates: the probability a model gives each of a set of answers
after a node's context (the favourite-number experiment)."""

from __future__ import annotations

import math

from ..analysis.candidates import CandidateError, CandidateScores, auto_separator, clean
from ..backends.base import Backend, Prompt
from ..tree import Context


def score_candidates(
    backend: Backend, text: Prompt, candidates: list[str], separator: str | None = None, end: str = ""
) -> CandidateScores:
    """Score each candidate as `separator + candidate + end` after `text`;
    `separator` None picks one with auto_separator. A candidate that is the
    start of another (" 5" and " 57") also counts the longer one's mass unless
    an `end` (".", a newline) closes every candidate."""
    cands = clean(candidates)
    sep = auto_separator(Context.of(text).text) if separator is None else separator
    logprobs = backend.score(text, [sep + c + end for c in cands])
    if len(logprobs) != len(cands) or not all(math.isfinite(lp) or lp == -math.inf for lp in logprobs):
        raise CandidateError(f"the model {backend.name!r} returned {len(logprobs)} scores for {len(cands)} candidates")
    if all(lp == -math.inf for lp in logprobs):
        raise CandidateError("every candidate has probability 0 under the model")
    return CandidateScores(cands, [float(lp) for lp in logprobs], sep, backend.name, end)
