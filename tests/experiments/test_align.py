"""The aligner on known cases: identical, disjoint, same ending after a different middle."""

import pytest

from loom.analysis.align import Piece, align, align_texts, last_sentence, marked, pick_level, units


def test_identical_texts_never_diverge():
    a = align_texts("The fox ran home. It slept.", "The fox ran home. It slept.")
    assert a.status == "identical" and a.reconverged
    assert a.divergence is None and a.reconvergence is None
    assert a.shared_ending["size"] == a.len_a == 6
    assert a.similarity == 1.0 and a.last_sentence_similarity == 1.0


def test_disjoint_texts_diverge_at_once_and_never_meet():
    a = align_texts("alpha beta gamma delta", "one two three four five")
    assert a.status == "diverged" and not a.reconverged
    assert a.divergence == 0 and a.reconvergence is None
    assert a.longest_run["size"] == 0 and a.shared_ending["size"] == 0
    assert a.blocks == [] and a.similarity == 0.0


def test_same_ending_after_a_different_middle():
    left = "She opened the door and saw a wolf. In the end, it is up to you to decide."
    right = "She opened the window and heard nothing at all. In the end, it is up to you to decide."
    a = align_texts(left, right, k=4)
    assert a.status == "reconverged"
    assert a.divergence == 3  # "She opened the" is shared, then door/window
    i, j = a.reconvergence
    assert left[a.reconvergence_char[0] :].startswith("In the end")
    assert right[a.reconvergence_char[1] :].startswith("In the end")
    assert (i, j) == (8, 9)
    assert a.shared_ending["size"] == 10 and a.shared_ending["text"].strip() == "In the end, it is up to you to decide."
    assert a.longest_run["size"] == 10
    assert a.shared_after == 1.0
    assert a.last_sentence_similarity == 1.0


def test_run_length_k_decides_what_counts_as_reconverging():
    left = "a b c x y z d e f q"
    right = "a b c u v w d e f r"
    assert align_texts(left, right, k=4).status == "diverged"
    three = align_texts(left, right, k=3)
    assert three.status == "reconverged" and three.reconvergence == (6, 6)


def test_common_prefix_does_not_count_as_reconvergence():
    a = align_texts("one two three four five six", "one two three four five seven", k=2)
    assert a.divergence == 5 and a.reconvergence is None and a.status == "diverged"


def test_shared_spans_cover_equal_text_on_both_sides():
    left = "The cat sat on the mat. It was warm and the sun was out."
    right = "A dog ran into the yard. It was warm and the sun was out."
    a = align_texts(left, right)
    assert len(a.a_spans) == len(a.b_spans) == len(a.blocks)
    for (s1, e1), (s2, e2) in zip(a.a_spans, a.b_spans):
        assert left[s1:e1].split() == right[s2:e2].split()
    assert marked("abcdef", [(1, 3)]) == "a\u27e6bc\u27e7def"


def test_token_level_uses_tokens_and_keeps_probabilities():
    a = [Piece("The", 0.9), Piece(" cat", 0.5), Piece(" sat", 0.8), Piece(".", 0.99)]
    b = [Piece("The", 0.9), Piece(" dog", 0.1), Piece(" sat", 0.7), Piece(".", 0.99)]
    al = align(a, b, k=2)
    assert al.level == "token" and al.divergence == 1 and al.reconvergence == (2, 2)
    words = units(a, "word")
    assert [w.text for w in words] == ["The", " cat", " sat."]
    assert words[2].prob == pytest.approx(0.8 * 0.99)


def test_untokenised_text_forces_word_level():
    a = [Piece("The cat sat.", None, 1, tokenised=False)]
    b = [Piece("The", 0.9), Piece(" cat", 0.5)]
    assert pick_level(a, b) == "word"
    with pytest.raises(ValueError, match="token-level"):
        align(a, b, level="token")
    with pytest.raises(ValueError, match="at least 1"):
        align(a, b, k=0)


def test_last_sentence_takes_a_trailing_fragment():
    assert last_sentence("First one. Second one! And a trail") == "And a trail"
    assert last_sentence("First one. \u201cQuoted end.\u201d   ") == "\u201cQuoted end.\u201d"
    assert last_sentence("Only\n\nparagraphs here") == "paragraphs here"
