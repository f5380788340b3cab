"""Automatic perturbations of a text, deterministic given a seed.

Each kind makes one small, named change (replace a word, delete a sentence,
insert the user's phrase, swap the first word, ...), so that a sweep can ask
whether the model's continuation comes back to the same place after it.
Pure functions: no store, no model.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from ..tree import LoomError

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
_SENTENCE = re.compile(r"[^.!?\n]*[^\s.!?][^.!?\n]*(?:[.!?]+[\"')\]\u201d\u2019]*|\n|$)\s*")
# stand-ins when a text has too few words of its own to swap in
_FALLBACK_WORDS = ("house", "river", "letter", "winter", "stranger", "machine", "garden", "silver", "quiet", "old")
_OPENERS = ("The", "A", "Then", "But", "And", "Suddenly", "Meanwhile", "Once", "She", "He", "They", "It")


class PerturbError(LoomError, ValueError):
    """A perturbation cannot be made; the message says which and why."""


@dataclass(frozen=True)
class Perturbation:
    kind: str
    text: str
    description: str
    span: tuple[int, int]  # the changed stretch of the original text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _match_case(word: str, like: str) -> str:
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word.lower() if word[:1].isupper() and not like[:1].isupper() else word


def replace_word(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    words = [m for m in _words(text) if len(m.group()) >= 3]
    if not words:
        raise PerturbError("replace a word: the text has no word of three letters or more")
    m = rng.choice(words)
    pool = sorted({w.group().lower() for w in words} - {m.group().lower()}) or list(_FALLBACK_WORDS)
    new = _match_case(rng.choice(pool), m.group())
    return Perturbation(
        "replace_word",
        text[: m.start()] + new + text[m.end() :],
        f"replaced {m.group()!r} with {new!r}",
        (m.start(), m.end()),
    )


def delete_word(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    words = _words(text)
    if len(words) < 2:
        raise PerturbError("delete a word: the text needs at least two words")
    m = rng.choice(words)
    start, end = m.start(), m.end()
    # take one neighbouring space with it, so no double space is left
    if end < len(text) and text[end] == " ":
        end += 1
    elif start > 0 and text[start - 1] == " ":
        start -= 1
    return Perturbation("delete_word", text[:start] + text[end:], f"deleted {m.group()!r}", (start, end))


def delete_sentence(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    sentences = [m for m in _SENTENCE.finditer(text) if m.group().strip()]
    if len(sentences) < 2:
        raise PerturbError("delete a sentence: the text needs at least two sentences")
    m = rng.choice(sentences)
    return Perturbation(
        "delete_sentence",
        text[: m.start()] + text[m.end() :],
        f"deleted sentence {m.group().strip()[:60]!r}",
        (m.start(), m.end()),
    )


def insert_phrase(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    if not phrase or not phrase.strip():
        raise PerturbError("insert a phrase: give the phrase to insert")
    phrase = phrase.strip()
    # after a sentence (or at the very end), so the phrase reads as its own sentence
    ends = sorted({m.end() for m in _SENTENCE.finditer(text) if m.group().strip()} | {len(text)})
    at = rng.choice(ends)
    before = text[:at]
    glue = "" if not before or before[-1].isspace() else " "
    after = text[at:]
    tail = "" if not after or after[0].isspace() else " "
    return Perturbation(
        "insert_phrase", before + glue + phrase + tail + after, f"inserted {phrase[:60]!r} at character {at}", (at, at)
    )


def first_word(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    words = _words(text)
    if not words:
        raise PerturbError("swap the first word: the text has no words")
    m = words[0]
    choices = [w for w in _OPENERS if w.lower() != m.group().lower()]
    new = _match_case(rng.choice(choices), m.group())
    return Perturbation(
        "first_word",
        text[: m.start()] + new + text[m.end() :],
        f"first word {m.group()!r} -> {new!r}",
        (m.start(), m.end()),
    )


def swap_words(text: str, rng: random.Random, phrase: str | None = None) -> Perturbation:
    words = _words(text)
    pairs = [(a, b) for a, b in zip(words, words[1:]) if a.group().lower() != b.group().lower()]
    if not pairs:
        raise PerturbError("swap two words: the text has no two different neighbouring words")
    a, b = rng.choice(pairs)
    new = text[: a.start()] + b.group() + text[a.end() : b.start()] + a.group() + text[b.end() :]
    return Perturbation("swap_words", new, f"swapped {a.group()!r} and {b.group()!r}", (a.start(), b.end()))


KINDS = {
    "replace_word": replace_word,
    "delete_sentence": delete_sentence,
    "insert_phrase": insert_phrase,
    "first_word": first_word,
    "swap_words": swap_words,
    "delete_word": delete_word,
}


def parse_kinds(spec: str | None) -> list[str]:
    """'replace_word,delete_sentence' -> names, checked; empty means all."""
    if not spec:
        return list(KINDS)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [s for s in names if s not in KINDS]
    if bad:
        raise PerturbError(f"unknown perturbation {', '.join(bad)}; choose from {', '.join(KINDS)}")
    return names


def make_perturbations(
    text: str, k: int, kinds: list[str] | None = None, seed: int = 0, phrase: str | None = None
) -> list[Perturbation]:
    """Up to `k` different perturbations of `text`, taking the kinds in turn
    (kinds that cannot apply, e.g. insert without a phrase, are skipped).
    The same text, kinds, seed and phrase always give the same list."""
    if not isinstance(k, int) or k < 1:
        raise PerturbError(f"number of perturbations must be a whole number of at least 1 (got {k!r})")
    kinds = parse_kinds(",".join(kinds)) if kinds else list(KINDS)
    if "insert_phrase" in kinds and not (phrase and phrase.strip()):
        kinds = [n for n in kinds if n != "insert_phrase"]
    rng = random.Random(seed)
    seen = {text}
    out: list[Perturbation] = []
    live = list(kinds)
    turn = 0
    while len(out) < k and live:
        kind = live[turn % len(live)]
        made = None
        for _ in range(20):
            try:
                p = KINDS[kind](text, rng, phrase)
            except PerturbError:
                break
            if p.text not in seen:
                made = p
                break
        if made is None:
            live.remove(kind)  # this kind has nothing new to give
            continue
        seen.add(made.text)
        out.append(made)
        turn += 1
    if not out:
        raise PerturbError(f"no perturbation of kinds {', '.join(kinds) or '(none)'} applies to this text")
    return out
