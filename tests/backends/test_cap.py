"""The cap sampler: every token the model gives more than P is removed and the
rest renormalised (the essay's "remove the ultra-likely tokens"). On the real
demo model no sampled token's stored probability (the model's own) is above
the cap; a server, which cannot apply it, refuses before anything is sent."""

import math
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loom.backends import BackendError
from loom.backends.sampling import cap_logits, processed_probs
from loom.experiments.generate import generate_children
from loom.tree import GenerationParams

PROMPT = "Once upon a time"


def probs_after(probs: list[float], **params) -> list[float]:
    return processed_probs(torch.tensor([probs]).log(), GenerationParams(**params))[0].tolist()


def test_cap_removes_every_token_above_it_and_renormalises_exactly():
    assert probs_after([0.6, 0.25, 0.1, 0.05], cap=0.5) == pytest.approx([0.0, 0.625, 0.25, 0.125], abs=1e-6)
    assert probs_after([0.6, 0.25, 0.1, 0.05], cap=0.2) == pytest.approx([0.0, 0.0, 2 / 3, 1 / 3], abs=1e-6)
    # a token exactly at the cap stays (only those above it go); cap 1 is off
    assert probs_after([0.5, 0.3, 0.2], cap=0.5) == pytest.approx([0.5, 0.3, 0.2], abs=1e-6)
    assert probs_after([0.9, 0.1], cap=1.0) == pytest.approx([0.9, 0.1], abs=1e-6)


def test_cap_judges_the_models_own_probability_then_temperature_acts_on_the_rest():
    # at temperature 2 the top token's share falls to 0.47, under the cap, but the model gives it 0.6: removed
    out = probs_after([0.6, 0.3, 0.1], cap=0.5, temperature=2.0)
    rest = [math.sqrt(0.3), math.sqrt(0.1)]
    assert out == pytest.approx([0.0, rest[0] / sum(rest), rest[1] / sum(rest)], abs=1e-6)


def test_when_every_token_is_above_the_cap_the_least_likely_of_them_stays():
    assert probs_after([0.55, 0.45], cap=0.4) == pytest.approx([0.0, 1.0])
    one_hot = torch.tensor([[0.0, float("-inf"), float("-inf")]])
    assert cap_logits(one_hot, 0.5).softmax(-1)[0].tolist() == [1.0, 0.0, 0.0]
    # a token the model cannot emit is never the one kept
    assert torch.isinf(cap_logits(one_hot, 0.5)[0, 1:]).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-20, 20, allow_nan=False, width=32), min_size=2, max_size=30), st.floats(0.01, 1))
def test_capped_rows_hold_no_token_above_the_cap_unless_nothing_else_is_left(values, cap):
    logits = torch.tensor([values])
    before = logits.softmax(-1)[0]
    after = processed_probs(logits, GenerationParams(cap=cap))[0]
    assert torch.isclose(after.sum(), torch.tensor(1.0), atol=1e-5)
    if (before <= cap).any():
        assert not (after[before > cap] > 0).any()
        # the rest keep their proportions
        kept = before <= cap
        assert torch.allclose(after[kept], before[kept] / before[kept].sum(), atol=1e-5)
    else:
        assert (after > 0).sum() == 1 and before[after > 0].item() == before.min().item()


def test_on_the_demo_model_no_sampled_token_is_above_the_cap(demo_backend, session):
    root = session.add_node(None, PROMPT, "prompt")
    free = generate_children(session, demo_backend, root.id, GenerationParams(n=6, max_tokens=40, seed=3))
    capped = generate_children(session, demo_backend, root.id, GenerationParams(n=6, max_tokens=40, seed=3, cap=0.5))
    free_p = [t.prob for n in free.nodes for t in n.tokens]
    capped_p = [t.prob for n in capped.nodes for t in n.tokens]
    assert max(free_p) > 0.5  # without the cap the demo model does pick such tokens: the check below can fail
    assert len(capped_p) > 100 and max(capped_p) <= 0.5 + 1e-6
    for node in capped.nodes:  # stored as the model's own probabilities, with the cap in the settings
        assert node.params["cap"] == 0.5 and all(t.raw for t in node.tokens)
        assert GenerationParams.from_dict(node.params).sampler == "temp=1 cap=0.5"
    # the alternatives are the model's too: the ones above the cap are still listed (never chosen)
    assert any(a.prob > 0.5 for n in capped.nodes for t in n.tokens for a in t.alternatives)


def test_greedy_with_a_cap_takes_the_most_likely_token_under_it(demo_backend, session):
    root = session.add_node(None, PROMPT, "prompt")
    node = generate_children(
        session, demo_backend, root.id, GenerationParams(n=1, max_tokens=20, temperature=0, cap=0.3)
    ).nodes[0]
    for tok in node.tokens:
        under = [a for a in tok.alternatives if a.prob <= 0.3]
        assert tok.token_id == under[0].token_id


def test_a_server_refuses_the_cap_before_sending_anything(session, fake_server):
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    root = session.add_node(None, PROMPT, "prompt")
    b = OpenAIBackend(Profile(name="fake", model="demo", base_url=fake_server.url, max_retries=0, timeout=30.0))
    with pytest.raises(BackendError, match="cap 0.5.*cannot be applied on an OpenAI-compatible server"):
        generate_children(session, b, root.id, GenerationParams(n=2, max_tokens=4, cap=0.5))
    with pytest.raises(BackendError, match="cannot be applied"):
        list(b.generate(PROMPT, GenerationParams(n=1, max_tokens=4, cap=0.9)))
    assert fake_server.requests == []
    assert session.count() == 1
    # through the CLI: one line, exit 2
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loom",
            "generate",
            str(session.path),
            "--model",
            f"openai:demo@{fake_server.url}",
            "--cap",
            "0.5",
            "-n",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.startswith("loom: error: ") and "cannot be applied" in out.stderr
    assert fake_server.requests == [] and session.count() == 1
