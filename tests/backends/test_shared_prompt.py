"""n branches read their prompt's key/value cache once (backends.attention): the
same tokens and, to the last bits, the same logprobs as when each branch has its
own copy; and a model whose attention would not honour it is not given it."""

import pytest

from loom.backends.local import LocalBackend
from loom.tree import GenerationParams, TokenEvent

PROMPT = ("The old lighthouse keeper climbed the stairs each evening, counting the ships. " * 6).rstrip()


def branches(backend, n=4, seed=21):
    out: dict[int, list] = {}
    for ev in backend.generate(PROMPT, GenerationParams(n=n, max_tokens=12, seed=seed, logprobs=5)):
        if isinstance(ev, TokenEvent):
            t = ev.token
            out.setdefault(ev.branch, []).append(
                (t.token_id, t.logprob, [(a.token_id, a.logprob) for a in t.alternatives])
            )
    return out


def test_branches_reading_one_copy_of_the_prompt_match_their_own_copies():
    shared = LocalBackend("demo", device="cpu", prefix_cache=0)
    own = LocalBackend("demo", device="cpu", prefix_cache=0)
    own._shared = False  # each branch gets its own copy of the prompt's cache
    assert shared._shared_prompt() and shared.model.config._attn_implementation == "loom_shared_prompt"
    a, b = branches(shared), branches(own)
    assert a.keys() == b.keys() == set(range(4))
    for k in a:
        assert [t[0] for t in a[k]] == [t[0] for t in b[k]]
        assert [t[1] for t in a[k]] == pytest.approx([t[1] for t in b[k]], abs=1e-4)
        assert [x[0] for t in a[k] for x in t[2]] == [x[0] for t in b[k] for x in t[2]]


def test_the_check_refuses_attention_that_ignores_the_shared_prompt():
    backend = LocalBackend("demo", device="cpu", prefix_cache=0)
    assert backend._same_logits() is False  # still on plain SDPA: it would see only the branches' own tokens
    assert backend._shared_prompt() and backend._same_logits()
