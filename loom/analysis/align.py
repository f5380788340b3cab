"""Align two continuations and say whether, and where, they came back together.

Pure functions on plain text pieces (no store, no model). A continuation is a
list of `Piece`s (a token with its probability, or an untokenised stretch of
text); alignment runs on tokens when both sides are fully tokenised, else on
words. Matching blocks come from difflib (longest common run first, then
recursively on each side of it), which keeps long shared runs intact.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rapidfuzz.distance import Indel

LEVELS = ("auto", "token", "word")
_WORD = re.compile(r"\s*\S+|\s+$")
# a sentence ends at . ! ? (with closing quotes/brackets) followed by space, or at a blank line
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]\u201d\u2019]))\s+|\n\s*\n")


@dataclass(frozen=True)
class Piece:
    """A stretch of a continuation: one token (`tokenised`) or a node's untokenised text."""

    text: str
    prob: float | None = None
    node_id: int | None = None
    tokenised: bool = True


@dataclass(frozen=True)
class Unit:
    """What the aligner compares: a token or a word, with its place in the text."""

    text: str
    start: int
    end: int
    prob: float | None = None

    @property
    def content_start(self) -> int:
        """Where the unit's text starts after its leading whitespace."""
        return self.start + len(self.text) - len(self.text.lstrip()) if self.text.strip() else self.start

    @property
    def key(self) -> str:
        # whitespace is layout, not content: " the" and "\nthe" are the same word
        return self.text.strip()


@dataclass
class Alignment:
    level: str
    k: int
    len_a: int
    len_b: int
    status: str  # "identical", "reconverged" or "diverged"
    divergence: int | None  # units shared before the first difference (None when identical)
    reconvergence: tuple[int, int] | None  # (index in a, index in b) where the first run >= k after divergence starts
    reconvergence_char: tuple[int, int] | None
    shared_after: float | None  # share of a's units after reconvergence that are in shared runs
    longest_run: dict[str, Any]  # {"a": i, "b": j, "size": n, "text": ...}
    shared_ending: dict[str, Any]  # {"size": n, "text": ...}, common suffix in units
    last_sentence_similarity: float  # 0-1, Indel similarity of the two last sentences
    similarity: float  # 0-1, share of units in matching blocks (difflib ratio)
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (a index, b index, size), size > 0
    a_spans: list[tuple[int, int]] = field(default_factory=list)  # character spans of shared runs in text a
    b_spans: list[tuple[int, int]] = field(default_factory=list)
    last_sentences: tuple[str, str] = ("", "")

    @property
    def reconverged(self) -> bool:
        return self.status != "diverged"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reconverged"] = self.reconverged
        return d

    def summary(self) -> str:
        return summary_of(self.to_dict())


def summary_of(d: dict[str, Any]) -> str:
    """One line about an alignment, from its dict (as stored in a record)."""
    if d["status"] == "identical":
        return f"identical ({d['len_a']} {d['level']}s)"
    parts = [f"diverge at {d['level']} {d['divergence']}"]
    if d["reconvergence"]:
        i, j = d["reconvergence"]
        parts.append(f"reconverge at {i}/{j} (run >= {d['k']}, {d['shared_after']:.0%} shared after)")
    else:
        parts.append(f"no reconvergence (no shared run of {d['k']})")
    parts.append(f"longest run {d['longest_run']['size']}")
    parts.append(f"shared ending {d['shared_ending']['size']}")
    parts.append(f"last sentences {d['last_sentence_similarity']:.2f} similar")
    return ", ".join(parts)


def marked(text: str, spans: Iterable[Sequence[int]], open_: str = "\u27e6", close: str = "\u27e7") -> str:
    """`text` with each shared span wrapped in brackets (for plain-text output).
    `spans` are (start, end) pairs (lists when read back from a stored record)."""
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out += [text[pos:start], open_, text[start:end], close]
        pos = end
    return "".join(out + [text[pos:]])


def pieces_from_text(text: str, node_id: int | None = None) -> list[Piece]:
    return [Piece(text, None, node_id, tokenised=False)] if text else []


def units(pieces: list[Piece], level: str) -> list[Unit]:
    """Tokens as units (level 'token'), or words carrying the product of the
    probabilities of the tokens they overlap (level 'word')."""
    out: list[Unit] = []
    pos = 0
    spans: list[tuple[int, int, float | None]] = []
    for p in pieces:
        spans.append((pos, pos + len(p.text), p.prob if p.tokenised else None))
        if level == "token":
            out.append(Unit(p.text, pos, pos + len(p.text), p.prob))
        pos += len(p.text)
    if level == "token":
        return out
    text = "".join(p.text for p in pieces)
    for m in _WORD.finditer(text):
        start, end = m.start(), m.end()
        probs = [prob for s, e, prob in spans if s < end and e > start]
        known = [q for q in probs if q is not None]
        joint = None
        if probs and len(known) == len(probs):  # a word with any untokenised part has no probability
            joint = 1.0
            for q in known:
                joint *= q
        out.append(Unit(m.group(), start, end, joint))
    return out


def pick_level(a: list[Piece], b: list[Piece], level: str = "auto") -> str:
    if level not in LEVELS:
        raise ValueError(f"alignment level must be one of {', '.join(LEVELS)} (got {level!r})")
    if level != "auto":
        if level == "token" and not all(p.tokenised for p in (*a, *b)):
            raise ValueError(
                "token-level alignment needs both continuations fully tokenised (edited text has no tokens); use words"
            )
        return level
    return "token" if all(p.tokenised for p in (*a, *b)) else "word"


def last_sentence(text: str) -> str:
    """The last sentence with any letters or digits in it (a trailing fragment counts)."""
    parts = [s.strip() for s in _SENTENCE_END.split(text)]
    for s in reversed(parts):
        if any(ch.isalnum() for ch in s):
            return " ".join(s.split())
    return " ".join(text.split())


def text_similarity(a: str, b: str) -> float:
    """0-1 similarity of two texts (normalised Indel, i.e. difflib-style ratio, on characters)."""
    if not a and not b:
        return 1.0
    return float(Indel.normalized_similarity(a, b))


def align(a: list[Piece], b: list[Piece], k: int = 4, level: str = "auto") -> Alignment:
    """Where two continuations diverge and whether they share a run of at least
    `k` units again afterwards."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"the reconvergence run length k must be a whole number of at least 1 (got {k!r})")
    level = pick_level(a, b, level)
    ua, ub = units(a, level), units(b, level)
    ka, kb = [u.key for u in ua], [u.key for u in ub]
    matcher = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    blocks = [(m.a, m.b, m.size) for m in matcher.get_matching_blocks() if m.size]
    prefix = 0
    while prefix < min(len(ka), len(kb)) and ka[prefix] == kb[prefix]:
        prefix += 1
    identical = ka == kb
    divergence = None if identical else prefix
    reconv = None
    shared_after = None
    if not identical:
        for i, j, size in blocks:
            # a run that starts inside the common prefix only counts from where the prefix ends
            if i < prefix and j < prefix:
                cut = prefix - min(i, j)
                i, j, size = i + cut, j + cut, size - cut
            if size >= k and i >= prefix and j >= prefix:
                reconv = (i, j)
                break
        if reconv:
            after = len(ua) - reconv[0]
            shared = sum(max(0, min(size, i + size - reconv[0])) for i, _, size in blocks if i + size > reconv[0])
            shared_after = shared / after if after else 1.0
    longest = matcher.find_longest_match(0, len(ka), 0, len(kb))
    suffix = 0
    while suffix < min(len(ka), len(kb)) and ka[-1 - suffix] == kb[-1 - suffix]:
        suffix += 1
    text_a = "".join(p.text for p in a)
    text_b = "".join(p.text for p in b)
    sent_a, sent_b = last_sentence(text_a), last_sentence(text_b)

    def span(us: list[Unit], i: int, n: int) -> tuple[int, int]:
        return (us[i].start, us[i + n - 1].end)

    return Alignment(
        level=level,
        k=k,
        len_a=len(ua),
        len_b=len(ub),
        status="identical" if identical else ("reconverged" if reconv else "diverged"),
        divergence=divergence,
        reconvergence=reconv,
        reconvergence_char=(ua[reconv[0]].content_start, ub[reconv[1]].content_start) if reconv else None,
        shared_after=shared_after,
        longest_run={
            "a": longest.a,
            "b": longest.b,
            "size": longest.size,
            "text": "".join(u.text for u in ua[longest.a : longest.a + longest.size]),
        },
        shared_ending={"size": suffix, "text": "".join(u.text for u in ua[len(ua) - suffix :]) if suffix else ""},
        last_sentence_similarity=text_similarity(sent_a, sent_b),
        similarity=matcher.ratio() if (ka or kb) else 1.0,
        blocks=blocks,
        a_spans=[span(ua, i, n) for i, _, n in blocks],
        b_spans=[span(ub, j, n) for _, j, n in blocks],
        last_sentences=(sent_a, sent_b),
    )


def align_texts(a: str, b: str, k: int = 4) -> Alignment:
    """Word-level alignment of two plain texts."""
    return align(pieces_from_text(a), pieces_from_text(b), k=k, level="word")
