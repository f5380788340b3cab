"""Endings grouped by meaning: character n-gram TF-IDF vectors, cosine
similarity, and average-linkage agglomerative clustering cut at a similarity.

Why this representation: it needs nothing but numpy, works for any model
(server or local, no hidden states needed), and is robust to the small
wording changes that split one attractor into many literal groups ("a great
wedding feast was held" / "the wedding feast was made ready" share most of
their 3-5 letter pieces). Average linkage (not single) so that a chain of
half-similar texts cannot pull two different endings into one cluster.
Pure functions: no store, no model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

NGRAMS = (3, 5)  # character n-gram lengths, inclusive
# Chosen on the bundled pair: with the last 24 words and a cut at 0.15 the
# wedding endings of demo-wedding (three prompts, 40-200 samples, T 0.7-1.9)
# form one cluster with no non-wedding text in it, while demo's 60 samples
# of a prompt stay in 50+ clusters; at 0.2-0.3 the wedding splits by wording,
# with 8 words a cut-off ending ("and so they were married, and a") splits off.
DEFAULT_SIMILARITY = 0.15
DEFAULT_ENDING_WORDS = 24

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def ending_text(text: str, words: int = DEFAULT_ENDING_WORDS) -> str:
    """The last `words` words, whitespace collapsed and case folded (0 = all)."""
    parts = text.split()
    return " ".join(parts[-words:] if words > 0 else parts).casefold()


def ngrams(text: str, sizes: tuple[int, int] = NGRAMS) -> Counter[str]:
    """Character n-grams of each word padded with spaces (so word starts and
    ends count), as in the usual 'char_wb' analyser."""
    out: Counter[str] = Counter()
    lo, hi = sizes
    for word in normalise(text).split(" "):
        if not word:
            continue
        w = f" {word} "
        for n in range(lo, hi + 1):
            if len(w) < n:
                if n == lo:
                    out[w] += 1
                break
            for i in range(len(w) - n + 1):
                out[w[i : i + n]] += 1
    return out


def tfidf(texts: list[str], sizes: tuple[int, int] = NGRAMS) -> npt.NDArray[np.float64]:
    """Rows of L2-normalised TF-IDF vectors (sublinear tf, smoothed idf); an
    empty text gives a zero row."""
    grams = [ngrams(t, sizes) for t in texts]
    vocab: dict[str, int] = {}
    for g in grams:
        for k in g:
            vocab.setdefault(k, len(vocab))
    x = np.zeros((len(texts), max(1, len(vocab))))
    df = np.zeros(max(1, len(vocab)))
    for r, g in enumerate(grams):
        for k, c in g.items():
            j = vocab[k]
            x[r, j] = 1 + math.log(c)
            df[j] += 1
    n = len(texts)
    x *= np.log((1 + n) / (1 + df)) + 1
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def similarity_matrix(vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cosine similarities of unit rows, clipped to [0, 1]; 1 on the diagonal
    (an empty text is identical to itself and to nothing else)."""
    k = np.clip(vectors @ vectors.T, 0.0, 1.0)
    np.fill_diagonal(k, 1.0)
    return k


def agglomerate(sim: npt.NDArray[np.float64], threshold: float) -> list[int]:
    """Average-linkage clustering: repeatedly merge the two most similar
    clusters while their mean pairwise similarity is >= threshold. Returns a
    label per item; labels are numbered biggest cluster first (ties: the one
    whose first member comes first)."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"cluster similarity must be from 0 to 1 (got {threshold!r})")
    n = sim.shape[0]
    if n == 0:
        return []
    s = sim.astype(float).copy()
    np.fill_diagonal(s, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    parent = list(range(n))
    for _ in range(n - 1):
        flat = int(np.argmax(s))
        a, b = divmod(flat, n)
        if s[a, b] < threshold:
            break
        # Lance-Williams update for average linkage: the merged cluster's mean
        # similarity to every other is the size-weighted mean of its parts'
        merged = (size[a] * s[a] + size[b] * s[b]) / (size[a] + size[b])
        s[a], s[:, a] = merged, merged
        s[a, a] = -np.inf
        s[b], s[:, b] = -np.inf, -np.inf
        size[a] += size[b]
        alive[b] = False
        parent[b] = a
    root = []
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        root.append(r)
    members: dict[int, list[int]] = {}
    for i, r in enumerate(root):
        members.setdefault(r, []).append(i)
    order = sorted(members.values(), key=lambda m: (-len(m), m[0]))
    labels = [0] * n
    for c, m in enumerate(order):
        for i in m:
            labels[i] = c
    return labels


@dataclass
class Clustering:
    """Meaning clusters of a field of texts: a label per text (0 = biggest),
    the similarity matrix they were made from (used again by the Vendi score),
    and the settings."""

    labels: list[int]
    similarity: npt.NDArray[np.float64] = field(repr=False)
    threshold: float = DEFAULT_SIMILARITY
    ending_words: int = DEFAULT_ENDING_WORDS

    @property
    def count(self) -> int:
        return max(self.labels) + 1 if self.labels else 0

    def members(self, c: int) -> list[int]:
        return [i for i, lab in enumerate(self.labels) if lab == c]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": [int(x) for x in self.labels],
            "clusters": int(self.count),
            "threshold": float(self.threshold),
            "ending_words": int(self.ending_words),
        }


def cluster_texts(
    texts: list[str], threshold: float = DEFAULT_SIMILARITY, ending_words: int = DEFAULT_ENDING_WORDS
) -> Clustering:
    """Cluster the endings (last `ending_words` words; 0 = whole text) of `texts`."""
    if not isinstance(ending_words, int) or ending_words < 0:
        raise ValueError(f"ending length must be a whole number of words, 0 for the whole text (got {ending_words!r})")
    sim = similarity_matrix(tfidf([ending_text(t, ending_words) for t in texts]))
    return Clustering(agglomerate(sim, threshold), sim, threshold, ending_words)


#: the most siblings grouped at once (average linkage is cubic in their number)
MAX_GROUPED = 300


def grouped_order(
    texts: list[str], threshold: float = DEFAULT_SIMILARITY, ending_words: int = DEFAULT_ENDING_WORDS
) -> list[tuple[int, int, int]]:
    """Siblings grouped by meaning, as the report's clusters group samples:
    (index, cluster, cluster size) for every text, biggest cluster first, each
    cluster's members in their own order. Texts that are the same (case and
    spacing aside) always share a cluster, so duplicates stand together."""
    if len(texts) > MAX_GROUPED:
        raise ValueError(f"{len(texts)} siblings; at most {MAX_GROUPED} are grouped by meaning at once")
    labels = cluster_texts(texts, threshold, ending_words).labels if texts else []
    # identical texts into the first one's cluster (their similarity is 1, but an empty text has no n-grams)
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        j = first.setdefault(normalise(t), i)
        labels[i] = labels[j]
    sizes = Counter(labels)
    rank = {c: r for r, c in enumerate(sorted(sizes, key=lambda c: (-sizes[c], labels.index(c))))}
    order = sorted(range(len(texts)), key=lambda i: (rank[labels[i]], i))
    return [(i, rank[labels[i]], sizes[labels[i]]) for i in order]
