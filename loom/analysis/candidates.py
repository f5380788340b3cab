"""Scored candidates: the probability of each of a list of continuations as a
whole sequence after a text, normalised over the list: the essay's "favourite
random number" experiment (score the integers 0-100 after a question).

Exact on local models (one forward pass per candidate, batched); on API servers
through prompt logprobs where the backend supports it (its `score` raises
BackendError with the reason where it does not)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tree import LoomError

PRESETS: dict[str, list[str]] = {
    "numbers": [str(i) for i in range(101)],
}
MAX_CANDIDATES = 5000


class CandidateError(LoomError, ValueError):
    """A bad candidate list; the message says which and why."""


@dataclass
class CandidateScores:
    candidates: list[str]
    logprobs: list[float]  # total log-probability of each candidate after the text (with the separator)
    separator: str
    model: str = ""
    end: str = ""
    # "text": logprobs are P(separator + candidate + end); "complete": P(that text, then a
    # terminator: end-of-text, punctuation or a newline), so " 1" does not collect " 10".." 19"
    answer: str = "text"
    text_logprobs: list[float] | None = None  # P(text) alone, kept beside complete-answer scores

    @property
    def mass(self) -> float:
        """How much of the model's probability the listed candidates cover together."""
        return math.fsum(math.exp(lp) for lp in self.logprobs)

    @property
    def probs(self) -> list[float]:
        """The distribution over the candidates alone (sums to 1)."""
        top = max(self.logprobs)
        weights = [math.exp(lp - top) for lp in self.logprobs]
        total = math.fsum(weights)
        return [w / total for w in weights]

    @property
    def entropy_bits(self) -> float:
        return -math.fsum(p * math.log2(p) for p in self.probs if p > 0)

    @property
    def top(self) -> tuple[str, float]:
        probs = self.probs
        i = max(range(len(probs)), key=probs.__getitem__)
        return self.candidates[i], probs[i]

    def ranked(self) -> list[tuple[str, float, float]]:
        """(candidate, normalised probability, log-probability), most likely first."""
        return sorted(zip(self.candidates, self.probs, self.logprobs), key=lambda r: -r[2])

    def to_dict(self) -> dict[str, Any]:
        top, top_p = self.top
        return {
            "model": self.model,
            "separator": self.separator,
            "end": self.end,
            "answer": self.answer,
            "entropy_bits": self.entropy_bits,
            "max_entropy_bits": math.log2(len(self.candidates)),
            "mass": self.mass,
            "top": {"candidate": top, "prob": top_p},
            "candidates": [
                {"text": c, "prob": p, "logprob": lp, "text_logprob": tl}
                for c, p, lp, tl in zip(self.candidates, self.probs, self.logprobs, self.text_logprobs or self.logprobs)
            ],
        }


def clean(candidates: list[str]) -> list[str]:
    """Candidates in order without repeats; an empty list or an empty candidate is an error."""
    seen: set[str] = set()
    out = []
    for c in candidates:
        if c == "":
            raise CandidateError("a candidate is empty; every candidate needs some text")
        if c not in seen:
            seen.add(c)
            out.append(c)
    if not out:
        raise CandidateError("no candidates given: type some, give a file, or use a preset (numbers)")
    if len(out) > MAX_CANDIDATES:
        raise CandidateError(f"{len(out)} candidates; at most {MAX_CANDIDATES} can be scored at once")
    return out


def preset(name: str) -> list[str]:
    try:
        return list(PRESETS[name])
    except KeyError:
        raise CandidateError(f"no candidate preset {name!r}; presets: {', '.join(PRESETS)}") from None


def read_file(path: str | Path) -> list[str]:
    """One candidate per line; blank lines are skipped, other whitespace kept."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CandidateError(f"{p}: cannot read the candidate file ({exc})") from exc
    return [line for line in text.splitlines() if line.strip()]


def auto_separator(text: str) -> str:
    """A space between the text and each candidate when the text does not end
    in whitespace, as a writer would put one ("is" + " 42")."""
    return " " if text and not text[-1].isspace() else ""
