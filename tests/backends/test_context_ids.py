"""A context is the token ids the model really saw: a model-written node is fed
back as its sampled ids, never as its re-tokenised text."""

import math

import pytest

from loom.experiments.context import path_context, token_context
from loom.experiments.generate import edit_node, generate_children
from loom.tree import GenerationParams


def non_canonical_node(session, backend, tokenizer=None):
    """A node whose sampled ids differ from the canonical tokenisation of its text."""
    tokenizer = tokenizer or backend.tokenizer
    root = session.add_node(None, "The old man walked", "prompt")
    for seed in range(0, 400, 16):
        result = generate_children(
            session, backend, root.id, GenerationParams(n=16, max_tokens=24, temperature=1.5, seed=seed, logprobs=10)
        )
        for node in result.nodes:
            ids = [t.token_id for t in node.tokens]
            if tokenizer(node.text, add_special_tokens=False)["input_ids"] != ids:
                return root, node
    pytest.fail("no non-canonical node in 400 samples")


def first_difference(backend, node):
    ids = [t.token_id for t in node.tokens]
    canon = backend.tokenizer(node.text, add_special_tokens=False)["input_ids"]
    return next(i for i, (a, b) in enumerate(zip(ids, canon)) if a != b)


def test_distribution_before_a_token_is_the_one_it_was_sampled_from(session, demo_backend):
    root, node = non_canonical_node(session, demo_backend)
    i = first_difference(demo_backend, node)
    for index in sorted({i, min(i + 1, len(node.tokens) - 1), len(node.tokens) - 1}):
        stored = node.tokens[index].alternatives
        dist = demo_backend.next_token_distribution(token_context(session, node.id, index), 10)
        assert [a.token_id for a in dist.alternatives] == [a.token_id for a in stored]
        for got, want in zip(dist.alternatives, stored):
            assert math.isclose(got.logprob, want.logprob, abs_tol=2e-3)

    # the old way, re-tokenising the text, asks about contexts the model never saw
    def off(j):
        retok = demo_backend.next_token_distribution(root.text + "".join(t.text for t in node.tokens[:j]), 10)
        return max(abs(a.logprob - b.logprob) for a, b in zip(retok.alternatives, node.tokens[j].alternatives))

    assert max(off(j) for j in range(i + 1, len(node.tokens))) > 0.01


def test_a_childs_context_starts_with_the_parents_sampled_ids(session, demo_backend):
    root, node = non_canonical_node(session, demo_backend)
    sampled = [t.token_id for t in node.tokens]
    ids, retokenised = demo_backend.context_ids(path_context(session, node.id))
    prompt_ids = demo_backend.tokenizer(root.text, add_special_tokens=False)["input_ids"]
    assert ids == prompt_ids + sampled and retokenised == []
    child = generate_children(session, demo_backend, node.id, GenerationParams(n=1, max_tokens=4, seed=1)).nodes[0]
    assert child.meta["context"] == {"form": "ids", "retokenised": []}
    ids, _ = demo_backend.context_ids(path_context(session, child.id))
    assert ids[: len(prompt_ids) + len(sampled)] == prompt_ids + sampled
    # the child's first token was sampled after exactly those ids
    dist = demo_backend.next_token_distribution(token_context(session, child.id, 0), 10)
    assert [a.token_id for a in dist.alternatives] == [a.token_id for a in child.tokens[0].alternatives]


def test_human_text_is_tokenised_where_it_sits_and_other_models_nodes_are_named(session, demo_backend):
    root, node = non_canonical_node(session, demo_backend)
    edit = edit_node(session, node, node.text + " and then")
    ids, retok = demo_backend.context_ids(path_context(session, edit.id))
    enc = lambda t: demo_backend.tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert ids == enc(root.text) + enc(edit.text) and retok == []
    # ids another model sampled mean nothing to this one: its text is tokenised, and the node named
    other = session.add_node(root.id, node.text, "model", model="demo-wedding", tokens=node.tokens)
    ids, retok = demo_backend.context_ids(path_context(session, other.id))
    assert ids == enc(root.text) + enc(node.text) and retok == [other.id]
    assert demo_backend.context_form(path_context(session, other.id)) == {"form": "ids", "retokenised": [other.id]}


def test_a_stop_string_cut_inside_the_last_token_keeps_the_nodes_text(session, demo_backend):
    root = session.add_node(None, "The old man walked", "prompt")
    nodes = generate_children(
        session, demo_backend, root.id, GenerationParams(n=8, max_tokens=24, seed=3, stop=["e"])
    ).nodes
    cut = [n for n in nodes if n.meta["finish"] == "stop"]
    assert cut
    for node in cut:
        ids, _ = demo_backend.context_ids(path_context(session, node.id))
        assert demo_backend.tokenizer.decode(ids) == root.text + node.text


def test_every_node_keeps_the_models_identity(session, demo_backend):
    import hashlib

    from loom.backends.local import BUNDLED

    root = session.add_node(None, "Once", "prompt")
    node = generate_children(session, demo_backend, root.id, GenerationParams(n=1, max_tokens=2, seed=1)).nodes[0]
    weights = (BUNDLED["demo"] / "model.safetensors").read_bytes()
    assert session.node(node.id).params["model_id"] == {
        "name": "demo",
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }


# -- the same through an OpenAI-compatible server that takes token-id prompts -----------------
def server_backend(server, **kw):
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    server.reset()
    server.dialect, server.token_ids = "content", True  # llama.cpp: ids in its replies, /tokenize, id prompts
    return OpenAIBackend(Profile(name="ids", model="demo", base_url=server.url, max_retries=0, **kw))


def test_through_a_server_a_context_is_the_ids_it_sampled(session, demo_backend, fake_server):
    backend = server_backend(fake_server)
    root, node = non_canonical_node(session, backend, demo_backend.tokenizer)
    sampled = [t.token_id for t in node.tokens]
    assert None not in sampled and node.meta["context"] == {"form": "text", "retokenised": []}  # the root: text
    i = first_difference(demo_backend, node)
    for index in sorted({i, min(i + 1, len(node.tokens) - 1), len(node.tokens) - 1}):
        stored = node.tokens[index].alternatives
        dist = backend.next_token_distribution(token_context(session, node.id, index), 10)
        assert [a.token_id for a in dist.alternatives] == [a.token_id for a in stored]
        for got, want in zip(dist.alternatives, stored):
            assert math.isclose(got.logprob, want.logprob, abs_tol=2e-3)
    child = generate_children(session, backend, node.id, GenerationParams(n=1, max_tokens=4, seed=1)).nodes[0]
    assert child.meta["context"] == {"form": "ids", "retokenised": []}
    prompt_ids = demo_backend.tokenizer(root.text)["input_ids"]
    assert fake_server.prompts[-1] == prompt_ids + sampled  # what the server was sent
    assert session.node(child.id).meta["context"]["form"] == "ids"


def test_a_server_without_id_prompts_gets_text_and_the_node_says_so(session, demo_backend, fake_server):
    backend = server_backend(fake_server)
    root = session.add_node(None, "The old man walked", "prompt")
    node = generate_children(session, backend, root.id, GenerationParams(n=1, max_tokens=6, seed=2)).nodes[0]
    fake_server.token_ids = False  # now it neither tokenises nor takes ids
    child = generate_children(session, backend, node.id, GenerationParams(n=1, max_tokens=3, seed=2)).nodes[0]
    assert child.meta["context"] == {"form": "text", "retokenised": []}
    assert isinstance(fake_server.prompts[-1], str)
    strict = server_backend(fake_server, token_prompts=True)
    fake_server.token_ids = False
    from loom.backends.base import BackendError

    with pytest.raises(BackendError, match="tokenise"):
        generate_children(session, strict, node.id, GenerationParams(n=1, max_tokens=3, seed=2))


@pytest.mark.parametrize("stream", [True, False])
def test_through_vllm_the_sampled_ids_come_back_and_go_out_again(session, demo_backend, fake_server, stream):
    """vLLM names no ids in its logprobs, but gives the sampled ids when asked
    (return_token_ids): a node keeps them, and a child's prompt is those ids."""
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    fake_server.reset()
    fake_server.vllm_ids = True
    backend = OpenAIBackend(Profile(name="vllm", model="demo", base_url=fake_server.url, max_retries=0, stream=stream))
    root, node = non_canonical_node(session, backend, demo_backend.tokenizer)
    assert fake_server.requests[-1]["body"]["return_token_ids"] is True
    sampled = [t.token_id for t in node.tokens]
    assert None not in sampled and all(a.token_id is None for t in node.tokens for a in t.alternatives)
    child = generate_children(session, backend, node.id, GenerationParams(n=1, max_tokens=4, seed=1)).nodes[0]
    assert child.meta["context"] == {"form": "ids", "retokenised": []}
    assert fake_server.prompts[-1] == demo_backend.tokenizer(root.text)["input_ids"] + sampled
    # the distribution before a non-canonical token, through the server, is the one it was sampled from
    i = first_difference(demo_backend, node)
    dist = backend.next_token_distribution(token_context(session, node.id, i), 10)
    stored = node.tokens[i].alternatives
    assert [a.text for a in dist.alternatives] == [a.text for a in stored]
    for got, want in zip(dist.alternatives, stored):
        assert math.isclose(got.logprob, want.logprob, abs_tol=2e-3)


def test_a_server_that_refuses_return_token_ids_is_asked_again_without(session, fake_server):
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    fake_server.reset()
    fake_server.strict = True  # as OpenAI's own API answers an unknown field
    backend = OpenAIBackend(Profile(name="strict", model="demo", base_url=fake_server.url, max_retries=0))
    root = session.add_node(None, "The old man walked", "prompt")
    first = generate_children(session, backend, root.id, GenerationParams(n=1, max_tokens=4, seed=1))
    assert len(first.nodes) == 1 and first.nodes[0].complete
    generate_children(session, backend, root.id, GenerationParams(n=1, max_tokens=4, seed=2))
    bodies = [r["body"] for r in fake_server.requests if r["path"] == "/v1/completions"]
    assert ["return_token_ids" in b for b in bodies] == [True, False, False]  # refused once, then never sent
