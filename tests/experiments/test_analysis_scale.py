"""The report's fast grouping and measures against the straightforward ones.

cluster_texts() clusters each distinct ending once, weighted, with the
nearest-neighbour chain, and the Vendi score takes its eigenvalues from the
endings' vectors rather than from an n x n matrix: on varied random fields
(repeats, words in another order, case and spacing, empty endings, ties) the
clusters must be exactly those of agglomerate() on the full similarity matrix
and the measures those of measure_diversity() on it, to 1e-9."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

from loom.analysis import report
from loom.analysis.clusters import (
    agglomerate,
    agglomerate_endings,
    cluster_texts,
    ending_text,
    ending_vectors,
    similarity_matrix,
    tfidf,
)
from loom.analysis.diversity import measure_diversity, vendi, vendi_endings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.analysis import old_join_near  # noqa: E402  (the literal join as it was: the bench's baseline)

STOCK = "the king queen a wedding in castle and she said that he was there for all of them dragon bride ring".split()


def field(seed: int, n: int) -> list[str]:
    """Random texts from a small stock: many repeats, some reordered, recased,
    respaced, empty or of one short word."""
    rng = random.Random(seed)
    stock = rng.sample(STOCK, rng.randint(3, len(STOCK)))
    made: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if made and roll < 0.3:
            made.append(rng.choice(made))  # a repeat
        elif made and roll < 0.4:
            words = rng.choice(made).split()
            rng.shuffle(words)  # the same n-grams in another order
            made.append(" ".join(words))
        elif made and roll < 0.45:
            made.append("  " + rng.choice(made).upper() + "\n")
        elif roll < 0.5:
            made.append(rng.choice(["", "   ", "a", "ab"]))
        else:
            made.append(" ".join(rng.choice(stock) for _ in range(rng.randint(1, 12))))
    return made


def straightforward(texts: list[str], threshold: float, words: int = 8) -> tuple[list[int], np.ndarray]:
    sim = similarity_matrix(tfidf([ending_text(t, words) for t in texts]))
    return agglomerate(sim, threshold), sim


@pytest.mark.parametrize("seed", range(12))
def test_clusters_are_those_of_the_full_matrix(seed):
    texts = field(seed, random.Random(seed).randint(1, 120))
    for threshold in (0.0, 0.05, 0.15, 0.3, 0.5, 0.8, 0.99):
        expected, _ = straightforward(texts, threshold)
        assert cluster_texts(texts, threshold, 8).labels == expected, (seed, threshold)


def test_endings_are_the_tfidf_rows():
    texts = [ending_text(t, 8) for t in field(3, 80)]
    e = ending_vectors(texts)
    full = tfidf(texts)
    has = e.item >= 0
    assert np.array_equal(e.rows[e.item[has]], full[has][:, : e.rows.shape[1]])
    assert not full[~has].any()
    assert len(e.rows) < has.sum()  # repeats kept once
    assert np.allclose(e.similarity(), similarity_matrix(full), atol=1e-12)


def test_ties_and_edges():
    # one word each, the same shape: many similarities exactly alike
    texts = ["abc", "abd", "abe", "xbc", "abc", "", "", "abd"]
    for threshold in (0.1, 0.2, 0.3, 0.34, 0.5, 0.999):
        assert cluster_texts(texts, threshold, 8).labels == straightforward(texts, threshold)[0], threshold
    # at a cut of exactly 1 the full matrix joins two copies only where their dot
    # product happens to round to 1 ("abc" yes, "abd" no); the same endings always join
    assert straightforward(texts, 1.0)[0] == [0, 1, 2, 3, 0, 4, 5, 6]
    assert cluster_texts(texts, 1.0, 8).labels == [0, 1, 2, 3, 0, 4, 5, 1]
    assert cluster_texts([], 0.2).labels == [] and cluster_texts(["", ""], 0.2).labels == [0, 1]
    assert cluster_texts(["", "a"], 0.0).labels == [0, 0]
    with pytest.raises(ValueError, match="similarity"):
        agglomerate_endings(ending_vectors(["a"]), 1.5)


@pytest.mark.parametrize("seed", range(6))
def test_measures_are_those_of_the_full_matrix(seed):
    rng = random.Random(seed)
    texts = field(100 + seed, rng.randint(2, 90))
    lps = [rng.uniform(-3, 0) for _ in texts]
    c = cluster_texts(texts, 0.2, 8)
    fast = measure_diversity(c.labels, c.vectors, lps, resamples=40, seed=seed)
    slow = measure_diversity(c.labels, c.similarity, lps, resamples=40, seed=seed)
    for a, b in ((fast.vendi, slow.vendi), (fast.semantic_entropy_bits, slow.semantic_entropy_bits)):
        assert (a.value, a.lo, a.hi, a.resamples) == pytest.approx((b.value, b.lo, b.hi, b.resamples), abs=1e-9)
    assert (
        fast.distinct_k == slow.distinct_k
        and fast.weighted_semantic_entropy_bits == slow.weighted_semantic_entropy_bits
    )
    # a subset (one temperature's samples), resampled with repeats
    idx = sorted(rng.sample(range(len(texts)), max(1, len(texts) // 2)))
    sub = c.vectors.subset(idx)
    for _ in range(10):
        draw = np.array([rng.randrange(len(idx)) for _ in idx], dtype=np.intp)
        want = vendi(c.similarity[np.ix_(idx, idx)][np.ix_(draw, draw)])
        assert vendi_endings(sub)(draw) == pytest.approx(want, abs=1e-9)
        assert vendi_endings(sub, sub.reduced())(draw) == pytest.approx(want, abs=1e-9)


def test_a_large_field_with_long_chains():
    # 300 texts of one small stock, alike at 0.2-0.9: hundreds of merges, long chains, many cut levels
    rng = random.Random(7)
    texts = [" ".join(rng.choice(STOCK) for _ in range(24)) for _ in range(300)]
    for threshold in (0.15, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        assert cluster_texts(texts, threshold).labels == straightforward(texts, threshold, 24)[0], threshold


@pytest.mark.parametrize("block", [1, 3, 7, 256])
def test_literal_groups_are_those_of_the_quadratic_loop(block, monkeypatch):
    monkeypatch.setattr(report, "JOIN_BLOCK", block)
    for seed in range(8):
        endings = list(dict.fromkeys(ending_text(t, 4) for t in field(200 + seed, 150)))
        for threshold in (0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 1.0):
            assert report._join_near(endings, threshold) == old_join_near(endings, threshold), (seed, threshold)
