"""Counts in words: "1 node", "2 nodes"."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and the word, singular for exactly one: plural(1, "node") is "1 node";
    `many` where adding s or es is wrong (child, children)."""
    if n == 1:
        return f"{n} {word}"
    if many is None:
        many = word + ("es" if word.endswith(("s", "sh", "ch", "x", "z")) else "s")
    return f"{n} {many}"
