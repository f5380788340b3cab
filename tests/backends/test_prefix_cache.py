"""The local backend's prefix cache: generating from a prompt whose start was
already processed gives the same branches, token for token, as a cold start
with the same seed; and the cache stays within its bounds."""

import pytest

from loom.backends.local import LocalBackend
from loom.tree import GenerationParams, TokenEvent

STORY = ("Once upon a time there was a little fox who lived at the edge of the woods. " * 4).rstrip()


@pytest.fixture(scope="module")
def cold():
    return LocalBackend("demo", device="cpu", prefix_cache=0)


@pytest.fixture(scope="module")
def warm():
    return LocalBackend("demo", device="cpu")


def branches(backend, prompt, n=3, max_tokens=8, seed=11):
    out: dict[int, list] = {}
    params = GenerationParams(n=n, max_tokens=max_tokens, seed=seed, logprobs=5)
    for ev in backend.generate(prompt, params):
        if isinstance(ev, TokenEvent):
            t = ev.token
            out.setdefault(ev.branch, []).append((t.text, t.token_id, t.logprob, [a.token_id for a in t.alternatives]))
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for branch in a:
        assert [(t, i, alts) for t, i, _, alts in a[branch]] == [(t, i, alts) for t, i, _, alts in b[branch]]
        # a split prefill adds in another order: last-bit float differences only
        assert [lp for *_, lp, _ in a[branch]] == pytest.approx([lp for *_, lp, _ in b[branch]], abs=1e-4)


def test_cached_prompt_gives_the_same_branches(cold, warm):
    reference = branches(cold, STORY)
    branches(warm, STORY, seed=99)  # processes the prompt and keeps its cache
    assert len(warm._prefixes) == 1
    assert_same(branches(warm, STORY), reference)


def test_child_parent_and_changed_boundary_reuse_the_cache(cold, warm):
    child = STORY + " The fox said"
    assert warm.encode(child)[: len(warm.encode(STORY))] == warm.encode(STORY)
    branches(warm, STORY)
    assert_same(branches(warm, child), branches(cold, child))  # extends the cached prompt
    # the parent's entry was folded into the child's; going back cuts the child's cache
    assert [len(k) for k in warm._prefixes] == [len(warm.encode(child))]
    assert_same(branches(warm, STORY), branches(cold, STORY))
    # a prompt that shares only part of a cached one: " sang" is two tokens where " said" was one
    other = STORY + " The fox sang"
    assert_same(branches(warm, other), branches(cold, other))


def test_next_token_distribution_is_the_same_from_the_cache(cold, warm):
    branches(warm, STORY)
    a = warm.next_token_distribution(STORY + " The", 5)
    b = cold.next_token_distribution(STORY + " The", 5)
    assert [x.token_id for x in a.alternatives] == [x.token_id for x in b.alternatives]
    assert a.entropy_bits == pytest.approx(b.entropy_bits, abs=1e-4)
    assert [x.logprob for x in a.alternatives] == pytest.approx([x.logprob for x in b.alternatives], abs=1e-4)


def test_cache_is_bounded_by_count_and_bytes():
    backend = LocalBackend("demo", device="cpu", prefix_cache=2)
    for start in ("Alpha beta", "Gamma delta", "Epsilon zeta"):
        branches(backend, start, n=1, max_tokens=2)
    assert len(backend._prefixes) == 2
    assert backend.encode("Alpha beta") not in [list(k) for k in backend._prefixes]  # least recently used goes

    size = backend._prefixes[next(iter(backend._prefixes))][2]
    assert size > 0
    backend._prefixes.clear()
    backend._prefix_bytes = size  # room for one prompt of this size, not two
    branches(backend, "Alpha beta", n=1, max_tokens=2)
    branches(backend, "Gamma delta", n=1, max_tokens=2)
    assert sum(e[2] for e in backend._prefixes.values()) <= size
    backend._prefix_bytes = 1  # nothing fits: nothing is kept
    backend._prefixes.clear()
    branches(backend, STORY, n=1, max_tokens=2)
    assert not backend._prefixes
