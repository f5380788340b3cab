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


# -- deep paths: the window moves in steps, so a deeper node reuses its ancestors' cache -------------
def deep_path(session, backend, nodes=12, tokens=48):
    """A path of model nodes (the model's own sampled ids), longer than the model's window."""
    from loom.experiments.generate import generate_children

    node = session.add_node(None, "Once upon a time", "prompt").id
    for i in range(nodes):
        node = generate_children(session, backend, node, GenerationParams(n=1, max_tokens=tokens, seed=i)).nodes[0].id
    return node


def test_a_long_path_is_cut_at_a_step_and_the_node_records_its_window(session):
    from loom.experiments.context import path_context
    from loom.experiments.generate import generate_children

    backend = LocalBackend("demo", device="cpu", window_step=64)
    node = deep_path(session, backend)
    ids, _ = backend.context_ids(path_context(session, node))
    assert len(ids) > backend.context
    params = GenerationParams(n=2, max_tokens=16, seed=3, logprobs=5)
    child = generate_children(session, backend, node, params).nodes[0]
    window = child.meta["context"]["window"]
    assert window["end"] == len(ids) and window["start"] % 64 == 0
    from loom.ui.app import context_label

    assert f"tokens {window['start']:,}-{len(ids):,} of the path" in context_label(child)  # the title bar says so
    assert len(ids) - window["start"] <= backend.context - 16 < len(ids) - window["start"] + 64
    # the window recorded is what the model saw: the same branches from exactly those ids
    from loom.tree import Context, Segment

    window_ids = ids[window["start"] :]
    seen = Context((Segment(backend.tokenizer.decode(window_ids), tuple(window_ids), "demo"),))
    cold = LocalBackend("demo", device="cpu", prefix_cache=0)
    again = [e.token.token_id for e in cold.generate(seen, params) if isinstance(e, TokenEvent) and e.branch == 0]
    assert again == [t.token_id for t in child.tokens]


def test_a_child_of_a_deep_node_reuses_the_cache_and_gives_the_same_branches(session):
    from loom.experiments.context import path_context

    warm = LocalBackend("demo", device="cpu", window_step=128)
    cold = LocalBackend("demo", device="cpu", window_step=128, prefix_cache=0)
    node = deep_path(session, warm)
    parent = path_context(session, session.node(node).parent_id)
    here = path_context(session, node)
    length = len(warm.context_ids(here)[0])
    assert warm.context_window(parent, 8)["start"] == warm.context_window(here, 8)["start"] > 0
    warm._prefixes.clear()
    branches(warm, parent)
    assert_same(branches(warm, here), branches(cold, here))
    # the parent's window was extended, not processed again: its entry was folded into the node's
    assert [len(k) for k in warm._prefixes] == [length - warm.context_window(here, 8)["start"]]
    # a window that slides by one token never shares a start with its parent's
    sliding = LocalBackend("demo", device="cpu", window_step=1)
    assert sliding.context_window(parent, 8)["start"] != sliding.context_window(here, 8)["start"]


def test_the_path_context_reads_only_the_ids_and_matches_the_nodes(session, demo_backend):
    from loom.experiments.context import path_context
    from loom.tree import Alternative, Context, Token, node_segment

    node = deep_path(session, demo_backend, nodes=2, tokens=6)
    edit = session.add_node(node, " and then", "edit")
    # tokens without the model's ids (a server that names none): the node is given as its text
    served = session.add_node(
        edit.id,
        " it rained",
        "model",
        model="some-server",
        tokens=[Token(" it", -0.1, None, (Alternative(" it", -0.1),)), Token(" rained", -0.2, None, ())],
    )
    want = Context(tuple(node_segment(n) for n in session.path_nodes(served.id)))
    got = path_context(session, served.id)
    assert got == want
    assert [s.ids is not None for s in got.segments] == [False, True, True, False, False]


def test_a_new_node_reuses_the_key_values_its_branch_computed(session):
    """Generating from a node the last generation wrote runs only its last token:
    the branch's own key/values were kept beside the prompt's; the result is the cold one."""
    from loom.experiments.context import path_context
    from loom.experiments.generate import generate_children

    warm = LocalBackend("demo", device="cpu")
    cold = LocalBackend("demo", device="cpu", prefix_cache=0)
    root = session.add_node(None, STORY, "prompt")
    kids = generate_children(session, warm, root.id, GenerationParams(n=3, max_tokens=10, seed=4)).nodes
    for kid in kids:
        here = path_context(session, kid.id)
        ids = tuple(warm.context_ids(here)[0])
        row, count = warm._branches.longest(ids)
        assert row >= 0 and count == len(kid.tokens) - 1  # all but its last token are kept
        assert_same(branches(warm, here), branches(cold, here))
        # the generation from this node kept its own branches; the siblings' come from a fresh one
        generate_children(session, warm, root.id, GenerationParams(n=3, max_tokens=10, seed=4))
    assert not cold._branches  # nothing is kept without a prefix cache
