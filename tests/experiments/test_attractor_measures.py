"""The pure measures behind attractor reports: Wilson intervals, bootstrap,
meaning clusters, user-defined attractors, and the diversity measures."""

import json
import math

import numpy as np
import pytest

from loom.analysis.attractors import (
    Attractor,
    AttractorError,
    count_attractor,
    parse_like,
    parse_regex,
    parse_words,
    with_example,
)
from loom.analysis.clusters import agglomerate, cluster_texts, ending_text, ngrams, similarity_matrix, tfidf
from loom.analysis.diversity import distinct_k, measure_diversity, semantic_entropy, vendi, weighted_semantic_entropy
from loom.analysis.intervals import Rate, bootstrap, wilson


def test_wilson_known_values():
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=5e-5), pytest.approx(0.7634, abs=5e-5))
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=5e-5)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=5e-5)
    # the figure: 127 of 200 is 63.5% with about +-6.6 points
    lo, hi = wilson(127, 200)
    assert lo < 0.635 < hi and hi - lo == pytest.approx(0.132, abs=0.003)
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_rate_is_json_numbers():
    d = Rate.of(3, 12).to_dict()
    assert d == json.loads(json.dumps(d))
    assert isinstance(d["k"], int) and isinstance(d["n"], int)
    assert all(isinstance(d[x], float) for x in ("rate", "lo", "hi"))
    assert d["lo"] <= d["rate"] == 0.25 <= d["hi"]


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.array([0.0, 1.0] * 20)
    a = bootstrap(lambda idx: float(x[idx].mean()), len(x))
    b = bootstrap(lambda idx: float(x[idx].mean()), len(x))
    assert a == b and a.value == 0.5 and a.lo < 0.5 < a.hi and a.resamples == 200
    c = bootstrap(lambda idx: float(x[idx].mean()), len(x), seed=1)
    assert (c.lo, c.hi) != (a.lo, a.hi)
    one = bootstrap(lambda idx: 7.0, 1)
    assert (one.value, one.lo, one.hi, one.resamples) == (7.0, 7.0, 7.0, 0)


WEDDING = [
    "and so they were married, and a great wedding feast was held, and everyone danced at the wedding feast.",
    "and the wedding feast was made ready, and everyone came to the wedding feast, and they lived happily ever after.",
    "and there was a wedding, and the people came to the wedding feast and were merry.",
    "a great wedding feast was held, and all the people of the kingdom came to the wedding and danced and feasted.",
]
OTHER = [
    "The dragon ate the moon and went back to sleep in the mountain.",
    "Meg sat down in the corner with her knitting and said nothing at all.",
    "The train left the station at noon, carrying coal to the northern towns.",
]


def test_ngrams_and_tfidf():
    assert ngrams("a") == {" a ": 1}  # a word shorter than the n-grams counts whole
    g = ngrams("Cat  cat")
    assert g[" ca"] == 2 and g["cat "] == 2 and g[" cat "] == 2
    x = tfidf(["the cat", "the cat", "", "a dog"])
    assert np.allclose(np.linalg.norm(x, axis=1), [1, 1, 0, 1])
    k = similarity_matrix(x)
    assert k[0, 1] == pytest.approx(1.0) and k[2, 2] == 1.0 and k[2, 0] == 0.0 and k[0, 3] < 0.2
    assert ending_text("A  b\nC d", 2) == "c d" and ending_text("A b", 0) == "a b"


def test_paraphrased_endings_fall_together():
    c = cluster_texts(OTHER[:1] + WEDDING + OTHER[1:])
    assert c.labels[1:5] == [0, 0, 0, 0]  # the biggest cluster is 0
    assert len({c.labels[0], c.labels[5], c.labels[6]}) == 3 and 0 not in (c.labels[0], c.labels[5], c.labels[6])
    assert c.count == 4 and c.members(0) == [1, 2, 3, 4]
    d = c.to_dict()
    assert d == json.loads(json.dumps(d)) and d["clusters"] == 4
    # a cut at 1 keeps every different text apart; at 0 everything joins
    assert cluster_texts(WEDDING, threshold=1.0).count == 4
    assert cluster_texts(WEDDING + OTHER, threshold=0.0).count == 1
    with pytest.raises(ValueError, match="similarity"):
        cluster_texts(WEDDING, threshold=1.5)
    with pytest.raises(ValueError, match="ending"):
        cluster_texts(WEDDING, ending_words=-1)


def test_average_linkage_does_not_chain():
    # a-b and b-c are similar, a-c not: single linkage would join all three
    sim = np.array([[1, 0.6, 0.0], [0.6, 1, 0.6], [0.0, 0.6, 1]])
    assert agglomerate(sim, 0.5) == [0, 0, 1]
    assert agglomerate(np.zeros((0, 0)), 0.5) == []


def test_attractor_definitions():
    texts = WEDDING + OTHER
    temps = [0.7, 0.7, 1.4, 1.4, 0.7, 1.4, 1.4]
    wedding = parse_regex("wedding=/WEDD|bride|marr/")
    assert wedding.members(texts) == [True] * 4 + [False] * 3  # case-insensitive
    assert parse_regex("w=marr").pattern == "marr"
    any_words = parse_words("x=dragon,knitting")
    assert not any_words.all_words and any_words.members(OTHER) == [True, True, False]
    all_words = parse_words("x=wedding+married")
    assert all_words.all_words and all_words.members(WEDDING) == [True, False, False, False]
    like = parse_like("w=and they all went to the wedding feast and danced")
    assert like.node is None and like.members(texts) == [True] * 4 + [False] * 3
    node_like = parse_like("w=12", threshold=0.5)
    assert node_like.node == 12 and node_like.example == "" and node_like.threshold == 0.5
    with pytest.raises(AttractorError, match="empty"):
        node_like.members(texts)
    assert with_example(node_like, WEDDING[0]).members(WEDDING[:1]) == [True]
    for bad in ("nonsense", "=x", "w=/(/"):
        with pytest.raises(AttractorError):
            parse_regex(bad)
    with pytest.raises(AttractorError):
        parse_words("w=,")
    with pytest.raises(AttractorError):
        Attractor("w", "like", example="x", threshold=2)

    r = count_attractor(wedding, texts, temps)
    assert (r.overall.k, r.overall.n) == (4, 7)
    assert [(t, x.k, x.n) for t, x in r.by_temperature] == [(0.7, 2, 3), (1.4, 2, 4)]
    assert r.modal in WEDDING and r.modal_count == 1
    d = r.to_dict()
    assert d == json.loads(json.dumps(d)) and d["definition"] == "/WEDD|bride|marr/"
    assert d["temperatures"][0] == {"temperature": 0.7, **Rate.of(2, 3).to_dict()}


def test_semantic_entropy():
    assert semantic_entropy([0, 0, 0]) == 0.0
    assert semantic_entropy([0, 0, 1, 1]) == pytest.approx(1.0)
    assert semantic_entropy([0, 1, 2, 3]) == pytest.approx(2.0)
    assert semantic_entropy([]) == 0.0
    # equal probabilities: the same as the discrete version
    assert weighted_semantic_entropy([0, 0, 1, 1], [-1.0] * 4) == pytest.approx(1.0)
    # cluster 1's samples e^-10 as likely: almost all the mass is in cluster 0
    w = weighted_semantic_entropy([0, 0, 1, 1], [-0.1, -0.1, -10.1, -10.1])
    assert 0 < w < 0.01
    # very negative logprobs do not underflow
    assert weighted_semantic_entropy([0, 1], [-2000.0, -2000.0]) == pytest.approx(1.0)


def test_distinct_k():
    assert distinct_k([0] * 10, 5) == pytest.approx(1.0)
    assert distinct_k(list(range(10)), 4) == pytest.approx(4.0)
    # two pairs, draw 2 of 4: each cluster is missed only by the other pair (1 of 6 draws)
    assert distinct_k([0, 0, 1, 1], 2) == pytest.approx(2 * (1 - 1 / 6))
    with pytest.raises(ValueError):
        distinct_k([0, 1], 3)


def test_vendi():
    assert vendi(np.ones((5, 5))) == pytest.approx(1.0)
    assert vendi(np.eye(5)) == pytest.approx(5.0)
    # two identical pairs, orthogonal to each other: two effective samples
    k = np.kron(np.eye(2), np.ones((2, 2)))
    assert vendi(k) == pytest.approx(2.0)


def test_measure_diversity_intervals_and_dtypes():
    texts = WEDDING * 3 + OTHER
    c = cluster_texts(texts)
    lps = [-0.5] * len(texts)
    d = measure_diversity(c.labels, c.similarity, lps)
    for est in (d.semantic_entropy_bits, d.weighted_semantic_entropy_bits, d.distinct_k, d.vendi):
        assert est.lo <= est.value <= est.hi or math.isclose(est.lo, est.value) or math.isclose(est.hi, est.value)
    assert d.k == 10 and d.n == 15 and d.clusters == 4
    assert d.weighted_semantic_entropy_bits.value == pytest.approx(d.semantic_entropy_bits.value)
    out = d.to_dict()
    assert out == json.loads(json.dumps(out)) and isinstance(out["vendi"]["value"], float)
    assert measure_diversity(c.labels, c.similarity, None).weighted_semantic_entropy_bits is None
    assert measure_diversity(c.labels, c.similarity, [None] * 15).to_dict()["weighted_semantic_entropy_bits"] is None
    assert measure_diversity(c.labels, c.similarity) == measure_diversity(c.labels, c.similarity)  # seeded


def test_diversity_intervals_contain_the_estimate_on_a_diverse_field():
    # all different: resampling duplicates samples and would put a plain
    # percentile interval wholly below the estimate; the centred one holds it
    texts = [f"story number {i} about {w}" for i, w in enumerate("fox owl cat dog bee ant elk yak emu cod".split() * 3)]
    c = cluster_texts(texts, threshold=0.9)
    d = measure_diversity(c.labels, c.similarity)
    for est in (d.semantic_entropy_bits, d.distinct_k, d.vendi):
        assert est.lo <= est.value <= est.hi, est
    assert d.vendi.lo >= 1.0 and d.semantic_entropy_bits.lo >= 0.0
