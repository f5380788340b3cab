"""The local backend on the real bundled model, checked against direct forward passes."""

import json
import math
import shutil

import pytest
import torch

from loom.backends.base import BackendError
from loom.backends.local import BUNDLED, LocalBackend
from loom.experiments.generate import generate_children
from loom.tree import BranchDone, GenerationParams, TokenEvent


def forward_logprobs(backend, prompt_ids, cont_ids):
    x = torch.tensor([prompt_ids + cont_ids])
    with torch.no_grad():
        logp = torch.log_softmax(backend.model(input_ids=x).logits[0].float(), -1)
    start = len(prompt_ids)
    return [float(logp[start + i - 1, t]) for i, t in enumerate(cont_ids)], logp


def test_recorded_logprobs_match_a_separate_forward_pass(demo_backend):
    prompt = "The king said to his daughter"
    params = GenerationParams(n=2, max_tokens=12, seed=5, temperature=1.0)
    events = list(demo_backend.generate(prompt, params))
    prompt_ids = demo_backend.encode(prompt)
    for b in range(2):
        toks = [e.token for e in events if isinstance(e, TokenEvent) and e.branch == b]
        ids = [t.token_id for t in toks]
        expected, logp = forward_logprobs(demo_backend, prompt_ids, ids)
        for i, (tok, lp) in enumerate(zip(toks, expected)):
            assert math.isclose(tok.logprob, lp, abs_tol=2e-3), (i, tok, lp)
            # alternatives: the raw top-k, sorted, valid probabilities, matching the forward pass
            alts = tok.alternatives
            assert len(alts) == 10
            assert all(a.logprob <= b.logprob + 1e-6 for b, a in zip(alts, alts[1:]))
            assert all(0 <= a.prob <= 1 for a in alts) and sum(a.prob for a in alts) <= 1 + 1e-4
            top = torch.topk(logp[len(prompt_ids) + i - 1], 10)
            assert [a.token_id for a in alts] == top.indices.tolist()
            assert tok.raw


def test_seed_per_branch_replays_alone(demo_backend):
    p = GenerationParams(n=3, max_tokens=8, seed=40)
    batch = list(demo_backend.generate("Once upon a time", p))
    alone = list(demo_backend.generate("Once upon a time", p.replace(n=1, seed=42)))
    third = [e.token.token_id for e in batch if isinstance(e, TokenEvent) and e.branch == 2]
    single = [e.token.token_id for e in alone if isinstance(e, TokenEvent)]
    assert third == single
    done = [e for e in batch if isinstance(e, BranchDone)]
    assert sorted(d.seed for d in done) == [40, 41, 42]


def test_greedy_is_deterministic_and_stop_strings_cut(demo_backend):
    p = GenerationParams(n=2, max_tokens=10, temperature=0)
    a = [e.token.text for e in demo_backend.generate("It was", p) if isinstance(e, TokenEvent)]
    b = [e.token.text for e in demo_backend.generate("It was", p) if isinstance(e, TokenEvent)]
    assert a == b
    text = "".join(a[: len(a) // 2])
    stop = text.strip().split()[-1] if text.strip() else None
    if stop:
        out = "".join(
            e.token.text
            for e in demo_backend.generate("It was", p.replace(n=1, stop=[stop]))
            if isinstance(e, TokenEvent)
        )
        assert stop not in out


def test_branches_are_committed_with_seed_and_tokens(session, demo_backend):
    root = session.add_node(None, "Once upon a time", "prompt")
    res = generate_children(session, demo_backend, root.id, GenerationParams(n=2, max_tokens=5, seed=9))
    assert len(res.nodes) == 2
    for node in res.nodes:
        stored = session.node(node.id)
        assert stored.text == node.text and stored.author == "model" and stored.model == "demo"
        assert stored.params["seed"] in (9, 10)
        assert [t.token_id for t in stored.tokens] == [t.token_id for t in node.tokens]
        assert [t.alternatives[0].text for t in stored.tokens] == [t.alternatives[0].text for t in node.tokens]


def test_cancel_keeps_partial_branches_marked_incomplete(session, demo_backend):
    import threading

    root = session.add_node(None, "Once", "prompt")
    cancel = threading.Event()
    seen = []

    def listener(e):
        if isinstance(e, TokenEvent):
            seen.append(e)
            if len(seen) == 6:
                cancel.set()

    res = generate_children(
        session, demo_backend, root.id, GenerationParams(n=2, max_tokens=40, seed=1), cancel=cancel, listener=listener
    )
    assert res.cancelled
    kids = session.children(root.id, with_tokens=True)
    assert kids and all(not k.complete for k in kids)
    assert all(len(k.tokens) == 3 for k in kids)


def test_long_prompt_is_trimmed_with_a_notice(session, demo_backend):
    from loom.tree import Notice

    text = "and the king said " * 400
    events = list(demo_backend.generate(text, GenerationParams(n=1, max_tokens=4, seed=1)))
    notices = [e for e in events if isinstance(e, Notice)]
    assert notices and "left out" in notices[0].text
    assert sum(isinstance(e, TokenEvent) for e in events) == 4


def test_more_tokens_than_the_context_stops_at_its_end(demo_backend):
    # max_tokens above the model's context used to trim the prompt to nothing and crash in the model
    events = list(
        demo_backend.generate("Once upon a time", GenerationParams(n=1, max_tokens=demo_backend.context + 8, seed=1))
    )
    toks = [e for e in events if isinstance(e, TokenEvent)]
    assert 0 < len(toks) < demo_backend.context


def test_score_matches_forward_pass(demo_backend):
    prompt = "The number is"
    conts = [" one", " seven hundred"]
    scores = demo_backend.score(prompt, conts)
    for cont, s in zip(conts, scores):
        ids = demo_backend.tokenizer(cont, add_special_tokens=False)["input_ids"]
        expected, _ = forward_logprobs(demo_backend, demo_backend.encode(prompt), ids)
        assert math.isclose(s, sum(expected), abs_tol=1e-3)


def test_a_tokenizer_without_start_or_end_token_refuses_an_empty_context(tmp_path):
    # an empty context is given the start (else end-of-text) token to predict from; a
    # tokenizer with neither once fed [None] to the model and crashed inside torch
    folder = tmp_path / "no-special-tokens"
    shutil.copytree(BUNDLED["demo"], folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for key in ("bos_token", "eos_token"):
        config.pop(key)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    backend = LocalBackend(str(folder), device="cpu", prefix_cache=0)
    assert backend.tokenizer.bos_token_id is None and backend.tokenizer.eos_token_id is None
    with pytest.raises(BackendError, match="neither a start nor an end-of-text token"):
        list(backend.generate("", GenerationParams(n=1, max_tokens=2, seed=1)))
    toks = [
        e
        for e in backend.generate("Once upon", GenerationParams(n=1, max_tokens=2, seed=1))
        if isinstance(e, TokenEvent)
    ]
    assert len(toks) == 2
