"""Property: any tree written to a session file reads back identical, in the
writing session and after reopening the file (hypothesis draws the trees).

Texts are drawn from every code point, lone surrogates included; logprobs are
drawn at the precision the store keeps (fixed point, 1e-4 nats a step, for
chosen tokens and alternatives alike), so "identical" means equal, not
approximately equal."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loom.store import Session
from loom.tree import AUTHORS, Alternative, GenerationParams, Token

CHARS = st.characters(exclude_categories=())
ANY_TEXT = st.text(CHARS, max_size=30)
# the store keeps logprobs in fixed point, 1e-4 nats a step (loom/store/codec.py), down to -429,496.7293
ALT_LOGPROB = st.integers(0, 0xFFFFFFFD).map(lambda q: -q / 10_000) | st.just(float("-inf"))
LOGPROB = st.none() | st.integers(0, 0xFFFFFFFD).map(lambda q: -q / 10_000)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(ANY_TEXT, kids, max_size=3),
    max_leaves=8,
)
# One vocabulary per local model: a token id always has the same text.
VOCAB = {
    i: t for i, t in enumerate(["a", " the", "\u00e9", "\U0001f44d\U0001f3fd", "\x1b[31m", "[/]", "\ud800", "", "\n"])
}


@st.composite
def tokens_for(draw, interned: bool):
    raw = draw(st.booleans())
    out = []
    for _ in range(draw(st.integers(0, 5))):
        k = draw(st.integers(0, 4))
        if interned:
            text = draw(ANY_TEXT)
            alts = tuple(Alternative(draw(ANY_TEXT), draw(ALT_LOGPROB), None) for _ in range(k))
            out.append(Token(text, draw(LOGPROB), None, alts, raw))
        else:
            tid = draw(st.sampled_from(sorted(VOCAB)))
            alt_ids = draw(st.lists(st.sampled_from(sorted(VOCAB)), max_size=k))
            alts = tuple(Alternative(VOCAB[a], draw(ALT_LOGPROB), a) for a in alt_ids)
            out.append(Token(VOCAB[tid], draw(LOGPROB), tid, alts, raw))
    return out


@st.composite
def trees(draw):
    nodes = []
    for i in range(draw(st.integers(1, 8))):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        kind = draw(st.sampled_from(["plain", "local", "api"]))
        tokens = None if kind == "plain" else draw(tokens_for(kind == "api"))
        text = "".join(t.text for t in tokens) if tokens else draw(ANY_TEXT)
        params = draw(
            st.one_of(
                st.none(),
                st.builds(
                    lambda n, t, seed: GenerationParams(n=n, temperature=t, seed=seed).to_dict(),
                    st.integers(1, 8),
                    st.sampled_from([0.0, 0.7, 1.0]),
                    st.one_of(st.none(), st.integers(0, 2**40)),
                ),
            )
        )
        nodes.append(
            dict(
                parent=parent,
                text=text,
                author=draw(st.sampled_from(AUTHORS)),
                derived_from=draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None,
                model={"plain": None, "local": "local-model", "api": "api-model"}[kind]
                if kind != "plain"
                else draw(st.one_of(st.none(), ANY_TEXT)),
                params=params,
                tokens=tokens or None,
                complete=draw(st.booleans()),
                meta=draw(st.dictionaries(ANY_TEXT, JSON, max_size=2)),
                created=draw(st.floats(0, 4e9, allow_nan=False)),
                tags=draw(st.sets(st.text(CHARS, min_size=1, max_size=12), max_size=2)),
                note=draw(ANY_TEXT),
            )
        )
    return nodes


def same_tokens(a, b) -> bool:
    if a is None or b is None:
        return a == b
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x.text, x.token_id, x.raw, x.alternatives) != (y.text, y.token_id, y.raw, y.alternatives):
            return False
        if x.logprob != y.logprob:  # None == None; logprobs drawn at the store's precision compare exactly
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees())
def test_any_tree_reads_back_identical(tree):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.loom"
        ids: list[int] = []
        with Session(path) as s:
            for spec in tree:
                node = s.add_node(
                    None if spec["parent"] is None else ids[spec["parent"]],
                    spec["text"],
                    spec["author"],
                    derived_from=None if spec["derived_from"] is None else ids[spec["derived_from"]],
                    model=spec["model"],
                    params=spec["params"],
                    tokens=spec["tokens"],
                    complete=spec["complete"],
                    meta=spec["meta"],
                    created=spec["created"],
                )
                ids.append(node.id)
                for tag in spec["tags"]:
                    s.add_tag(node.id, tag)
                s.set_note(node.id, spec["note"])
            written = [s.node(i) for i in ids]
        for _reopened in (False, True):
            with Session(path) as s:
                for spec, node_id, before in zip(tree, ids, written):
                    got = s.node(node_id)
                    assert got == before  # what the writer reads is what a new process reads
                    assert got.text == spec["text"]
                    assert got.author == spec["author"] and got.model == spec["model"]
                    assert got.params == spec["params"] and got.meta == spec["meta"]
                    assert got.complete == spec["complete"] and got.created == spec["created"]
                    assert got.parent_id == (None if spec["parent"] is None else ids[spec["parent"]])
                    assert same_tokens(got.tokens, spec["tokens"])
                    assert s.tags(node_id) == sorted(spec["tags"])
                    assert s.note(node_id) == (spec["note"] if spec["note"].strip() else None)
                    assert s.path_text(node_id) == "".join(n.text for n in s.path_nodes(node_id))
                # the children lists and previews agree with the nodes
                for parent in [None, *ids]:
                    kids = [
                        i
                        for spec, i in zip(tree, ids)
                        if (None if spec["parent"] is None else ids[spec["parent"]]) == parent
                    ]
                    assert s.child_ids(parent) == kids
                    assert [r["preview"] for r in s.summaries(parent)] == [s.node(k).text[:200] for k in kids]
