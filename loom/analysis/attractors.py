"""Attractors a user defines, and how often samples fall into them.

An attractor is one of:
- regex: a regular expression searched in the whole sample (case-insensitive),
- words: keywords (case-insensitive substrings), any or all of them,
- like: an example text; a sample is a member when the cosine similarity of
  its ending to the example's ending (character n-gram TF-IDF, as the
  clusters use) is at least a threshold.
Rates come with 95% Wilson intervals, overall and per temperature.
Pure functions: no store, no model (a `like` given as a node id is resolved
to its text by the caller).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ..tree import LoomError
from .clusters import DEFAULT_ENDING_WORDS, ending_text, tfidf
from .intervals import Rate

KINDS = ("regex", "words", "like")
# On the bundled pair, with demo-wedding's modal wedding ending as the example,
# 0.3 takes in the close paraphrases (17 of the 31 wedding endings of 40
# samples of "Are bugs real?") and none of the rambles: an example is
# stricter than the clusters, which compare every ending with every other.
DEFAULT_LIKE_SIMILARITY = 0.3


class AttractorError(LoomError, ValueError):
    """An attractor definition that cannot be used; the message says why."""


@dataclass
class Attractor:
    name: str
    kind: str  # one of KINDS
    pattern: str = ""  # regex
    words: tuple[str, ...] = ()  # words
    all_words: bool = False  # words: every word must occur (else any)
    example: str = ""  # like: the example text
    node: int | None = None  # like: the node the example came from, if any
    threshold: float = DEFAULT_LIKE_SIMILARITY  # like
    ending_words: int = DEFAULT_ENDING_WORDS  # like

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AttractorError(f"attractor kind must be one of {', '.join(KINDS)} (got {self.kind!r})")
        if not self.name:
            raise AttractorError("an attractor needs a name")
        if self.kind == "regex":
            try:
                self._re = re.compile(self.pattern, re.IGNORECASE)
            except re.error as exc:
                raise AttractorError(
                    f"attractor {self.name!r}: bad regular expression {self.pattern!r}: {exc}"
                ) from exc
        if self.kind == "words" and not any(w.strip() for w in self.words):
            raise AttractorError(f"attractor {self.name!r}: give at least one word")
        if self.kind == "like" and not (0 <= self.threshold <= 1):
            raise AttractorError(
                f"attractor {self.name!r}: similarity threshold must be from 0 to 1 (got {self.threshold!r})"
            )

    def members(self, texts: list[str]) -> list[bool]:
        """Whether each text falls into this attractor."""
        if self.kind == "regex":
            return [bool(self._re.search(t)) for t in texts]
        if self.kind == "words":
            words = [w.strip().casefold() for w in self.words if w.strip()]
            test = all if self.all_words else any
            return [test(w in t.casefold() for w in words) for t in texts]
        if self.example.strip() == "":
            raise AttractorError(f"attractor {self.name!r}: the example text is empty")
        # fitted on the samples and the example together, so the idf weights
        # are those of this field of samples
        vecs = tfidf([ending_text(t, self.ending_words) for t in [self.example, *texts]])
        sims = (vecs[1:] @ vecs[0]).tolist()
        return [s >= self.threshold for s in sims]

    def describe(self) -> str:
        if self.kind == "regex":
            return f"/{self.pattern}/"
        if self.kind == "words":
            return (" and " if self.all_words else " or ").join(repr(w) for w in self.words)
        src = f"node {self.node}" if self.node is not None else repr(self.example[:40])
        return f"like {src} (similarity >= {self.threshold:g})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "definition": self.describe(),
            "pattern": self.pattern,
            "words": list(self.words),
            "all_words": self.all_words,
            "example": self.example,
            "node": self.node,
            "threshold": float(self.threshold),
            "ending_words": int(self.ending_words),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attractor:
        """The attractor to_dict() wrote (as kept in a report record)."""
        return cls(
            d["name"],
            d["kind"],
            d.get("pattern", ""),
            tuple(d.get("words") or ()),
            bool(d.get("all_words")),
            d.get("example", ""),
            d.get("node"),
            float(d.get("threshold", DEFAULT_LIKE_SIMILARITY)),
            int(d.get("ending_words", DEFAULT_ENDING_WORDS)),
        )


def _split_name(spec: str, what: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value:
        raise AttractorError(f"{what} must be NAME=..., like {EXAMPLES[what]} (got {spec!r})")
    return name.strip(), value


EXAMPLES = {
    "regex": "'wedding=/wedd|bride|marr/'",
    "words": "'feast=wedding,feast' or 'feast=wedding+feast'",
    "like": "'wedding=12' (a node) or 'wedding=and they were married'",
}


def parse_regex(spec: str) -> Attractor:
    """NAME=/REGEX/ (the slashes may be left out)."""
    name, value = _split_name(spec, "regex")
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        value = value[1:-1]
    return Attractor(name, "regex", pattern=value)


def parse_words(spec: str) -> Attractor:
    """NAME=W1,W2 (any of the words) or NAME=W1+W2 (all of them)."""
    name, value = _split_name(spec, "words")
    all_words = "+" in value and "," not in value
    words = tuple(w.strip() for w in value.split("+" if all_words else ",") if w.strip())
    return Attractor(name, "words", words=words, all_words=all_words)


def parse_like(
    spec: str, threshold: float = DEFAULT_LIKE_SIMILARITY, ending_words: int = DEFAULT_ENDING_WORDS
) -> Attractor:
    """NAME=NODE_ID or NAME=TEXT. A node id leaves `example` empty for the
    caller to fill in with the node's text (see with_example)."""
    name, value = _split_name(spec, "like")
    node = int(value) if value.strip().isdigit() else None
    return Attractor(
        name,
        "like",
        example="" if node is not None else value,
        node=node,
        threshold=threshold,
        ending_words=ending_words,
    )


def with_example(attractor: Attractor, text: str) -> Attractor:
    return replace(attractor, example=text)


@dataclass
class AttractorRate:
    """One attractor counted over a field of samples."""

    attractor: Attractor
    member: list[bool] = field(repr=False)
    overall: Rate
    by_temperature: list[tuple[float, Rate]]
    modal: str  # the most common text among the members ("" when none)
    modal_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.attractor.to_dict(),
            **self.overall.to_dict(),
            "modal": self.modal,
            "modal_count": int(self.modal_count),
            "temperatures": [{"temperature": float(t), **r.to_dict()} for t, r in self.by_temperature],
        }


def rate_by_temperature(hits: list[bool], temperatures: list[float | None]) -> list[tuple[float, Rate]]:
    """The rate of `hits` among the samples of each temperature (None left out)."""
    out = []
    for t in sorted({t for t in temperatures if t is not None}):
        sub = [h for h, tt in zip(hits, temperatures) if tt == t]
        out.append((t, Rate.of(sum(sub), len(sub))))
    return out


def count_attractor(attractor: Attractor, texts: list[str], temperatures: list[float | None]) -> AttractorRate:
    member = attractor.members(texts)
    modal = Counter(t for t, m in zip(texts, member) if m).most_common(1)
    return AttractorRate(
        attractor,
        member,
        Rate.of(sum(member), len(texts)),
        rate_by_temperature(member, temperatures),
        modal[0][0] if modal else "",
        modal[0][1] if modal else 0,
    )
