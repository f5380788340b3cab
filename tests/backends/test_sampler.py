"""The sampler chain, XTC ("exclude top choices") and min-p above all: it never
removes every candidate and always leaves a normalised distribution."""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loom.backends.sampling import processed_probs, xtc
from loom.tree import GenerationParams


def logits_rows(draw_rows, vocab):
    return torch.tensor(draw_rows, dtype=torch.float32).reshape(-1, vocab)


@st.composite
def cases(draw):
    vocab = draw(st.integers(2, 40))
    rows = draw(st.integers(1, 4))
    finite = st.floats(-30, 30, allow_nan=False, width=32)
    values = draw(st.lists(st.one_of(finite, st.just(float("-inf"))), min_size=rows * vocab, max_size=rows * vocab))
    logits = torch.tensor(values, dtype=torch.float32).reshape(rows, vocab)
    # a row of the model's logits always has at least one finite entry
    logits[:, draw(st.integers(0, vocab - 1))] = draw(finite)
    params = GenerationParams(
        temperature=draw(st.floats(0.05, 5)),
        top_k=draw(st.integers(0, vocab + 2)),
        top_p=draw(st.floats(0.01, 1)),
        min_p=draw(st.floats(0, 0.99)),
        xtc_threshold=draw(st.floats(0, 1)),
        xtc_probability=draw(st.floats(0, 1)),
        cap=draw(st.one_of(st.just(1.0), st.floats(0.001, 1))),
    ).validate()
    coins = torch.tensor(draw(st.lists(st.floats(0, 0.999), min_size=rows, max_size=rows)))
    return logits, params, coins


@settings(max_examples=150, deadline=None)
@given(cases())
def test_chain_never_empties_a_row_and_stays_normalised(case):
    logits, params, coins = case
    probs = processed_probs(logits, params, coins)
    assert torch.isfinite(probs).all()
    assert (probs >= 0).all()
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[0]), atol=1e-5)
    assert ((probs > 0).sum(-1) >= 1).all()
    # whatever survived was possible to begin with
    assert not (probs[torch.isinf(logits)] > 0).any()


@settings(max_examples=150, deadline=None)
# float32 numbers: the comparison here must round as the sampler's tensors do
@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=30),
    st.floats(0.0009765625, 1, width=32),
    st.floats(0, 1, width=32),
    st.floats(0, 0.9990000128746033, width=32),
)
@example([0.0, 0.0, 0.0], 0.3333333432674408, 1.0, 0.0)  # a tie at the threshold, found by the fuzzer
def test_xtc_keeps_the_least_likely_top_choice(weights, threshold, probability, coin):
    row = torch.tensor(weights) + 1e-6
    before = row / row.sum()
    after = xtc(before.unsqueeze(0), threshold, probability, torch.tensor([coin]))[0]
    # xtc normalises its input again: compare with what it saw, or a tie at the threshold
    # (three equal weights, a threshold of 1/3) rounds one way here and the other way there
    before = before / before.sum()
    above = before >= threshold
    assert (after > 0).any()
    if above.sum() >= 2 and coin < probability:
        # every top choice but the least likely is gone; everything else untouched
        kept = after[above] > 0
        assert kept.sum() == 1
        assert before[above][kept].item() == before[above].min().item()
        assert torch.allclose(after[~above], before[~above], rtol=1e-5, atol=0)
    else:
        assert torch.allclose(after, before)


def test_xtc_known_case():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = processed_probs(probs.log(), GenerationParams(xtc_threshold=0.1, xtc_probability=1.0), torch.tensor([0.0]))
    assert out[0].tolist() == pytest.approx([0.0, 0.0, 0.75, 0.25])
    # the coin came up above the probability: nothing is removed
    out = processed_probs(probs.log(), GenerationParams(xtc_threshold=0.1, xtc_probability=0.5), torch.tensor([0.7]))
    assert out[0].tolist() == pytest.approx([0.5, 0.3, 0.15, 0.05])
    # only one token above the threshold: nothing to exclude
    out = processed_probs(probs.log(), GenerationParams(xtc_threshold=0.4, xtc_probability=1.0), torch.tensor([0.0]))
    assert out[0].tolist() == pytest.approx([0.5, 0.3, 0.15, 0.05])


def test_xtc_on_a_flat_row_keeps_exactly_one():
    flat = torch.full((1, 4), 0.25)
    out = xtc(flat, 0.25, 1.0, torch.tensor([0.0]))
    assert (out > 0).sum() == 1 and math.isclose(float(out.sum() / out.sum()), 1.0)


def test_min_p_drops_tokens_below_its_share_of_the_top():
    probs = torch.tensor([[0.6, 0.25, 0.1, 0.05]])
    out = processed_probs(probs.log(), GenerationParams(min_p=0.2))
    assert out[0].tolist() == pytest.approx([0.6 / 0.85, 0.25 / 0.85, 0.0, 0.0])
    # min-p close to 1 still keeps the top token
    out = processed_probs(probs.log(), GenerationParams(min_p=0.99))
    assert out[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
