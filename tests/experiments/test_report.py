"""Attractor reports on constructed samples, and deterministic perturbations."""

import math

import pytest

from loom.analysis.perturb import KINDS, PerturbError, delete_sentence, make_perturbations, parse_kinds
from loom.analysis.report import Sample, bar, build_report, ending_of, entropy_bits, format_report, group_samples

ATTRACTOR = "Ultimately, it is up to the individual to decide."


def constructed():
    lp = math.log
    return [
        *[Sample(f"Story {i}. {ATTRACTOR}", [lp(0.9), lp(0.99)], 0.7) for i in range(5)],
        Sample(f"Another. {ATTRACTOR[:-1]}!", [lp(0.5)], 0.7),  # near-duplicate ending
        Sample("The dragon ate the moon and went to sleep.", [lp(0.2), lp(0.4)], 1.4),
        Sample("The dragon ate the moon and went to sleep.", [lp(0.3)], 1.4),
        Sample("Nothing at all happened here today, friends.", [lp(0.1)], 1.4),
        Sample(f"Story 9. {ATTRACTOR}", [lp(0.8)], 1.4),
    ]


def test_groups_exact_then_by_edit_distance():
    samples = constructed()
    exact = group_samples(samples, threshold=0, ending_words=8)
    assert [g.size for g in exact] == [6, 2, 1, 1]
    assert exact[0].members == [0, 1, 2, 3, 4, 9] and exact[2].members == [5]
    loose = group_samples(samples, threshold=0.2, ending_words=8)
    assert [g.size for g in loose] == [7, 2, 1]
    top = loose[0]
    assert top.members == [0, 1, 2, 3, 4, 5, 9]
    assert top.ending == ending_of(ATTRACTOR)
    assert top.endings == {ending_of(ATTRACTOR): 6, ending_of(ATTRACTOR[:-1] + "!"): 1}
    assert top.modal_count == 1  # every full text differs in its opening
    assert top.mean_prob == pytest.approx((5 * (0.9 + 0.99) + 0.5 + 0.8) / 12)
    assert top.min_prob == pytest.approx(0.5)
    assert loose[1].modal == "The dragon ate the moon and went to sleep." and loose[1].modal_count == 2


def test_entropy_in_bits():
    assert entropy_bits([4]) == 0.0
    assert entropy_bits([1, 1]) == pytest.approx(1.0)
    assert entropy_bits([1, 1, 1, 1]) == pytest.approx(2.0)
    assert entropy_bits([2, 1, 1]) == pytest.approx(1.5)
    assert entropy_bits([]) == 0.0


def test_report_counts_the_same_groups_per_temperature():
    report = build_report(constructed(), threshold=0.2, ending_words=8)
    o = report["overall"]
    assert o["n"] == 10 and o["groups"] == 3
    sizes = [7, 2, 1]
    assert o["entropy_bits"] == pytest.approx(-sum(s / 10 * math.log2(s / 10) for s in sizes))
    assert o["modal_share"] == pytest.approx(0.7)
    cold, hot = report["temperatures"]
    assert (cold["temperature"], cold["n"], cold["groups"], cold["group0_share"]) == (0.7, 6, 1, 1.0)
    assert cold["entropy_bits"] == 0.0
    assert (hot["temperature"], hot["n"], hot["groups"]) == (1.4, 4, 3)
    assert hot["group0_share"] == pytest.approx(0.25) and hot["modal_share"] == pytest.approx(0.5)
    assert hot["entropy_bits"] == pytest.approx(1.5)
    text = format_report(report)
    assert "entropy 1.16 bits" in text and "\u2588" in text and "0.7" in text


def test_ending_words_and_bad_settings():
    assert ending_of("A  b\nC d", 2) == "c d"
    assert ending_of("A b C", 0) == "a b c"
    with pytest.raises(ValueError, match="threshold"):
        group_samples(constructed(), threshold=1.5)
    with pytest.raises(ValueError, match="ending"):
        group_samples(constructed(), ending_words=-1)
    assert bar(1.0, 10) == "\u2588" * 10 and bar(0.0, 10) == "" and len(bar(0.55, 10)) == 6


TEXT = "Once upon a time there was a fox. The fox was hungry. It went to the farm at night."


def test_perturbations_are_deterministic_and_different():
    a = make_perturbations(TEXT, 6, seed=3, phrase="Nobody saw it.")
    b = make_perturbations(TEXT, 6, seed=3, phrase="Nobody saw it.")
    assert [p.text for p in a] == [p.text for p in b]
    assert [p.kind for p in a] == list(KINDS)
    assert len({p.text for p in a}) == 6 and TEXT not in {p.text for p in a}
    c = make_perturbations(TEXT, 6, seed=4, phrase="Nobody saw it.")
    assert [p.text for p in a] != [p.text for p in c]
    ins = next(p for p in a if p.kind == "insert_phrase")
    assert "Nobody saw it." in ins.text and ins.text.replace("Nobody saw it.", "").split() == TEXT.split()
    first = next(p for p in a if p.kind == "first_word")
    assert first.text.split()[1:] == TEXT.split()[1:] and first.text.split()[0] != "Once"


def test_perturbation_kinds_skip_what_cannot_apply():
    # no phrase: insert_phrase is skipped; one sentence: delete_sentence cannot apply
    got = make_perturbations(
        "The fox was hungry.", 6, kinds=["insert_phrase", "delete_sentence", "delete_word"], seed=1
    )
    # fewer than asked: a four-word text has only four different one-word deletions
    assert {p.kind for p in got} == {"delete_word"} and len(got) == 4
    with pytest.raises(PerturbError, match="two sentences"):
        import random

        delete_sentence("Just one.", random.Random(0))
    with pytest.raises(PerturbError, match="unknown perturbation"):
        parse_kinds("replace_word,shout")
    with pytest.raises(PerturbError, match="no perturbation"):
        make_perturbations("...", 2, kinds=["replace_word"])
