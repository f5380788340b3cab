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
    return _tfidf_rows(grams, np.ones(len(grams), dtype=np.intp), len(texts))


def _tfidf_rows(grams: list[Counter[str]], weight: npt.NDArray[np.intp], n: int) -> npt.NDArray[np.float64]:
    """tfidf's rows, one for each of `grams`, where row r stands for weight[r] of the n texts
    (a text's n-grams counted in the document frequencies once for each text that has them)."""
    vocab: dict[str, int] = {}
    for g in grams:
        for k in g:
            vocab.setdefault(k, len(vocab))
    x = np.zeros((len(grams), max(1, len(vocab))))
    df = np.zeros(max(1, len(vocab)))
    for r, g in enumerate(grams):
        cols = [vocab[k] for k in g]
        x[r, cols] = [1 + math.log(c) for c in g.values()]
        df[cols] += weight[r]  # the texts that have it: integers, summed exactly
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


#: the most columns (distinct n-grams) for which Endings.reduced() looks for fewer
REDUCE_COLUMNS = 1024


@dataclass
class Endings:
    """The TF-IDF vectors of a field of endings with each distinct vector kept
    once: the same numbers as tfidf() of all of them (row for row, bit for bit),
    without the repeats. Samples whose endings have the same character n-grams
    (the same text, or its words in another order) share a row; an empty ending
    has no row (`item` -1): it is like nothing else, not even another empty one.

    `rows` are the distinct non-empty unit vectors (first appearance first),
    `item` the row of each sample."""

    rows: npt.NDArray[np.float64]
    item: npt.NDArray[np.intp]

    @property
    def n(self) -> int:
        return len(self.item)

    def weights(self) -> npt.NDArray[np.intp]:
        """How many samples share each row."""
        return np.bincount(self.item[self.item >= 0], minlength=len(self.rows))

    def subset(self, idx: list[int] | npt.NDArray[np.intp]) -> Endings:
        """These samples only, in this order: the rows they use, the columns those rows use."""
        item = self.item[np.asarray(idx, dtype=np.intp)]
        used = np.unique(item[item >= 0])
        remap = np.full(len(self.rows) + 1, -1, dtype=np.intp)
        remap[used] = np.arange(len(used))
        rows = self.rows[used]
        return Endings(rows[:, np.flatnonzero(rows.any(axis=0))], remap[item])

    def reduced(self) -> npt.NDArray[np.float64]:
        """Rows with the same dot products in fewer columns: U S of the rows' thin
        SVD, its numerically zero singular values dropped (character n-grams of a
        small word stock span far fewer dimensions than there are n-grams). Only
        up to REDUCE_COLUMNS columns (the SVD costs rows x columns squared)."""
        if not self.rows.size or self.rows.shape[1] > REDUCE_COLUMNS:
            return self.rows
        u, s, _ = np.linalg.svd(self.rows, full_matrices=False)
        rank = int((s > s[0] * max(self.rows.shape) * np.finfo(float).eps).sum())
        out: npt.NDArray[np.float64] = u[:, :rank] * s[:rank]
        return out

    def similarity(self) -> npt.NDArray[np.float64]:
        """The n x n matrix similarity_matrix(tfidf(...)) would give: for a few
        hundred samples at most (it is quadratic in memory)."""
        x = np.zeros((self.n, max(1, self.rows.shape[1])))
        has = self.item >= 0
        x[has] = self.rows[self.item[has]]
        return similarity_matrix(x)


def ending_vectors(endings: list[str], sizes: tuple[int, int] = NGRAMS) -> Endings:
    """tfidf(endings), each distinct vector once (see Endings)."""
    grams_of: dict[str, Counter[str]] = {}
    item_of: dict[frozenset[tuple[str, int]], int] = {}
    grams: list[Counter[str]] = []  # each distinct row's n-grams, as first seen
    item = np.full(len(endings), -1, dtype=np.intp)
    for i, text in enumerate(endings):
        g = grams_of.get(text)
        if g is None:
            g = grams_of[text] = ngrams(text, sizes)
        if not g:
            continue
        key = frozenset(g.items())
        u = item_of.get(key)
        if u is None:
            u = item_of[key] = len(grams)
            grams.append(g)
        item[i] = u
    weight = np.bincount(item[item >= 0], minlength=len(grams))
    return Endings(_tfidf_rows(grams, weight, len(endings)), item)


def agglomerate_endings(endings: Endings, threshold: float) -> list[int]:
    """agglomerate(endings.similarity(), threshold), without the n x n matrix.

    Exact, not an approximation, because of three facts about average linkage on
    these vectors: (1) samples sharing a row are alike (similarity 1), so they
    join before any cut: each row is clustered once, weighted by its samples;
    (2) the mean similarity of two clusters is the dot product of their mean
    vectors, so it is computed exactly from the clusters' summed vectors; (3)
    average linkage is reducible (a merged cluster is no more similar to a third
    than the nearer of its parts), so the nearest-neighbour chain finds the
    same merges as merging the most similar pair each time, and a cluster whose
    nearest is below the cut never merges again. The chain looks neighbours up
    in a float32 matrix of the rows' similarities (half the memory of float64)
    and settles every choice among the candidates within its rounding on the
    exact values. An empty ending is like nothing: alone unless the cut is 0,
    where, as with agglomerate(), everything joins."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"cluster similarity must be from 0 to 1 (got {threshold!r})")
    n = endings.n
    if n == 0:
        return []
    if threshold == 0:  # every similarity is >= 0
        return [0] * n
    m = len(endings.rows)
    weight = endings.weights().astype(float)
    vec = endings.reduced()  # exact dot products in fewer columns
    total = vec * weight[:, None]  # each cluster's summed vector (so far: each row's)
    sim = np.empty((m, m), dtype=np.float32)
    step = max(1, 2**22 // max(1, m))  # rows at a time: chunks of ~32 MB in float64
    for lo in range(0, m, step):
        sim[lo : lo + step] = vec[lo : lo + step] @ vec.T
    level = np.zeros(m)  # merges under each cluster: how much float32 rounding its entries carry
    ulp = 2.0**-24  # float32 rounding of a number at most 1
    alive = np.ones(m, dtype=bool)
    parent = np.arange(m)
    chain: list[int] = []
    left = m
    while left > 1:
        if not chain:
            chain.append(int(np.argmax(alive)))
        c = chain[-1]
        row = np.where(alive, sim[c], -np.inf)
        row[c] = -np.inf
        top = float(row.max())
        slack = (level[c] + level.max() + 2) * ulp  # bound on |float32 entry - exact|
        best, nearest = -np.inf, -1
        if top + slack >= threshold:
            cand = np.flatnonzero(row >= top - 2 * slack)
            # products summed row by row: the same number from either side, so the chain cannot cycle
            exact = (total[cand] * total[c]).sum(axis=1) / (weight[cand] * weight[c])
            best = float(exact.max())
            ties = cand[exact == best]
            prev = chain[-2] if len(chain) > 1 else -1
            nearest = prev if prev in ties else int(ties[0])
        if best < threshold:  # nothing near enough, now or later
            alive[c] = False
            left -= 1
            chain.pop()
            continue
        if len(chain) > 1 and nearest == chain[-2]:
            chain.pop()
            chain.pop()
            a, b = min(c, nearest), max(c, nearest)
            wa, wb = weight[a], weight[b]
            merged = ((wa * sim[a].astype(float) + wb * sim[b]) / (wa + wb)).astype(np.float32)
            sim[a], sim[:, a] = merged, merged
            total[a] += total[b]
            weight[a] = wa + wb
            level[a] = max(level[a], level[b]) + 1
            alive[b] = False
            parent[b] = a
            left -= 1
        else:
            chain.append(nearest)
    root = parent.copy()
    while True:  # every row to its cluster's root
        up = root[root]
        if np.array_equal(up, root):
            break
        root = up
    members: dict[int, list[int]] = {}
    for i, u in enumerate(endings.item.tolist()):
        members.setdefault(int(root[u]) if u >= 0 else m + i, []).append(i)
    order = sorted(members.values(), key=lambda mem: (-len(mem), mem[0]))
    labels = [0] * n
    for k, mem in enumerate(order):
        for i in mem:
            labels[i] = k
    return labels


@dataclass
class Clustering:
    """Meaning clusters of a field of texts: a label per text (0 = biggest),
    the endings' vectors they were made from (used again by the Vendi score),
    and the settings."""

    labels: list[int]
    vectors: Endings = field(repr=False)
    threshold: float = DEFAULT_SIMILARITY
    ending_words: int = DEFAULT_ENDING_WORDS

    @property
    def similarity(self) -> npt.NDArray[np.float64]:
        """The n x n similarity matrix (made on demand: for small fields)."""
        return self.vectors.similarity()

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
    vectors = ending_vectors([ending_text(t, ending_words) for t in texts])
    return Clustering(agglomerate_endings(vectors, threshold), vectors, threshold, ending_words)


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
