"""Scored candidates: the probability a model gives each of a set of answers
after a node's context (the favourite-number experiment)."""

from __future__ import annotations

import math

from ..analysis.candidates import CandidateError, CandidateScores, auto_separator, clean
from ..backends.base import Backend, Prompt
from ..tree import Context


#: what ends an answer, for P(text as a complete answer): these, or end-of-text
TERMINATORS = (".", ",", "!", "?", ";", ":", "\n")


def score_candidates(
    backend: Backend, text: Prompt, candidates: list[str], separator: str | None = None, end: str = "",
    answer: str = "text", terminators: tuple[str, ...] = TERMINATORS,
) -> CandidateScores:
    """Score each candidate as `separator + candidate + end` after `text`;
    `separator` None picks one with auto_separator. A candidate that is the
    start of another (" 5" and " 57") also counts the longer one's mass unless
    an `end` (".", a newline) closes every candidate."""
    cands = clean(candidates)
    sep = auto_separator(Context.of(text).text) if separator is None else separator
    texts = [sep + c + end for c in cands]
    if answer not in ("text", "complete"):
        raise CandidateError(f"answer must be 'text' or 'complete' (got {answer!r})")
    ends: list[float] | None = None
    if answer == "complete":
        both = getattr(backend, "score_answers", None)
        if both is None:
            raise CandidateError(
                f"P(candidate as a complete answer) needs the model's whole next-token distribution after each candidate; "
                f"{backend.name!r} gives only its top tokens, so loom cannot add up the mass of every terminator: "
                "score P(text) instead (--answer text), or use a local model"
            )
        pairs = both(text, texts, terminators)
        logprobs, ends = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        logprobs = backend.score(text, texts)
    if len(logprobs) != len(cands) or not all(math.isfinite(lp) or lp == -math.inf for lp in logprobs):
        raise CandidateError(f"the model {backend.name!r} returned {len(logprobs)} scores for {len(cands)} candidates")
    if all(lp == -math.inf for lp in logprobs):
        raise CandidateError("every candidate has probability 0 under the model")
    text_lps = [float(lp) for lp in logprobs]
    if ends is None:
        return CandidateScores(cands, text_lps, sep, backend.name, end)
    complete = [lp + t for lp, t in zip(text_lps, ends)]
    if all(lp == -math.inf for lp in complete):
        raise CandidateError("no candidate is ever followed by a terminator under the model")
    return CandidateScores(cands, complete, sep, backend.name, end, "complete", text_lps)
