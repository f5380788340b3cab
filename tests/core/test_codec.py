"""The token blob: fixed-point logprobs (1e-4 nats) for chosen tokens and
alternatives alike, deflated; blobs that earlier looms wrote (plain or
deflated, f32/f16 logprobs) still read back."""

import math

import pytest

from loom.store import Session, codec
from loom.tree import Alternative, Token


def tokens(n: int, repetitive: bool) -> list[Token]:
    out = []
    for i in range(n):
        base = 7 if repetitive else (i * 7919) % 60000
        alts = tuple(
            Alternative(f"t{base + j}", -0.5 * j - (0 if repetitive else i * 0.37 % 3), base + j) for j in range(4)
        )
        out.append(Token(f"t{base}", alts[0].logprob, base, alts))
    return out


def roundtrip(toks: list[Token]) -> tuple[bytes, list[Token]]:
    ids = [t.token_id for t in toks]
    alt_ids = [[a.token_id for a in t.alternatives] for t in toks]
    blob = codec.encode(toks, ids, alt_ids, interned=False)
    names = {i: f"t{i}" for t in toks for i in [t.token_id, *(a.token_id for a in t.alternatives)]}
    return blob, codec.decode(blob, "".join(t.text for t in toks), lambda ids: names)


def same(a: list[Token], b: list[Token], tol: float = 5e-5) -> bool:
    return all(
        x.text == y.text
        and x.token_id == y.token_id
        and math.isclose(x.logprob, y.logprob, abs_tol=tol)
        and [(p.text, p.token_id) for p in x.alternatives] == [(q.text, q.token_id) for q in y.alternatives]
        and all(math.isclose(p.logprob, q.logprob, abs_tol=tol) for p, q in zip(x.alternatives, y.alternatives))
        for x, y in zip(a, b)
    ) and len(a) == len(b)


def test_chosen_tokens_and_alternatives_keep_the_same_precision():
    import random

    rng = random.Random(4)
    toks = []
    for i in range(200):
        lps = sorted((-rng.expovariate(0.3) for _ in range(10)), reverse=True)
        alts = tuple(Alternative(f"t{i * 10 + j}", lp, i * 10 + j) for j, lp in enumerate(lps))
        toks.append(Token(f"t{i * 10}", lps[0], i * 10, alts))
    blob, back = roundtrip(toks)
    assert blob[0] == codec.VERSION_FIXED
    for x, y in zip(toks, back):
        assert abs(x.logprob - y.logprob) <= 5e-5
        assert max(abs(p.logprob - q.logprob) for p, q in zip(x.alternatives, y.alternatives)) <= 5e-5
        assert y.logprob == y.alternatives[0].logprob  # the same number, stored the same way
    assert len(blob) / len(toks) < 64  # the storage budget of the issue on real files


def test_round_numbers_come_back_as_written():
    alts = (Alternative("a", -0.9, 1), Alternative("b", -2.5, 2), Alternative("c", float("-inf"), 3))
    toks = [Token("a", -0.9, 1, alts), Token("b", None, 2, ()), Token("c", 0.0, 3, alts[:1])]
    _, back = roundtrip(toks)
    assert back[0].logprob == -0.9 and [a.logprob for a in back[0].alternatives] == [-0.9, -2.5, float("-inf")]
    assert back[1].logprob is None and back[1].alternatives == () and back[2].logprob == 0.0


def old_blob(toks: list[Token], deflate: bool) -> bytes:
    """A token blob as looms before version 3 wrote it: f32 chosen, f16 alternatives."""
    import struct
    import zlib

    import numpy as np

    n, k = len(toks), max(len(t.alternatives) for t in toks)
    ids = np.full((n, k), 0xFFFF, np.uint16)
    lps = np.full((n, k), -np.inf, np.float16)
    for r, t in enumerate(toks):
        ids[r, : len(t.alternatives)] = [a.token_id for a in t.alternatives]
        lps[r, : len(t.alternatives)] = [a.logprob for a in t.alternatives]
    body = b"".join(
        [
            np.array([len(t.text) for t in toks], np.uint32).tobytes(),
            np.array([t.logprob for t in toks], np.float32).tobytes(),
            np.array([t.token_id for t in toks], np.uint16).tobytes(),
            ids.tobytes(),
            lps.tobytes(),
        ]
    )
    head = struct.pack("<BBIB", 2 if deflate else 1, 1, n, k)
    return head + (zlib.compress(body) if deflate else body)


@pytest.mark.parametrize("deflate", [False, True])
def test_blobs_of_earlier_looms_still_read(deflate):
    toks = tokens(64, repetitive=True)
    names = {i: f"t{i}" for t in toks for i in [t.token_id, *(a.token_id for a in t.alternatives)]}
    back = codec.decode(old_blob(toks, deflate), "".join(t.text for t in toks), lambda ids: names)
    assert same(toks, back, tol=1e-2)


def test_unknown_version_is_refused():
    blob, _ = roundtrip(tokens(3, repetitive=True))
    with pytest.raises(ValueError, match="version 9"):
        codec.decode(bytes([9]) + blob[1:], "", lambda ids: {})


def test_new_sessions_use_larger_pages(tmp_path):
    s = Session(tmp_path / "s.loom")
    node = s.add_node(None, "t7t7", "model", model="m", tokens=tokens(2, repetitive=True)[:2])
    from loom.store.session import PAGE_SIZE

    assert PAGE_SIZE == 32768 and s.db.conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert [t.text for t in s.node(node.id).tokens] == ["t7", "t7"]


def test_the_small_and_the_numpy_encoder_write_the_same_bytes():
    """Small nodes are encoded in plain Python (numpy's per-call cost dominates there), large ones
    with numpy: both must give the same version-3 body."""
    import random

    rng = random.Random(7)
    for trial in range(300):
        toks, ids, alt_ids = [], [], []
        for _ in range(rng.randint(0, 12)):
            alts = tuple(
                Alternative(
                    "x",
                    # (a logprob above 0 is held at 0, one below -429,496 nats at the floor)
                    rng.choice([-rng.random() * 20, float("-inf"), -0.9, 0.0, None, 0.3, -429_496.0, -5e5]),
                    rng.randint(0, 70_000 if trial % 2 else 60_000),
                )
                for _ in range(rng.randint(0, 5))
            )
            tid = rng.randint(0, 70_000 if trial % 2 else 60_000)
            lp = rng.choice([None, -rng.random() * 5, float("nan"), float("-inf"), 1.5, -1e6])
            toks.append(Token("t" * rng.randint(0, 3), lp, tid, alts))
            ids.append(tid)
            alt_ids.append([a.token_id for a in alts])
        k = max(map(len, alt_ids), default=0)
        wide = max([*ids, *(i for a in alt_ids for i in a)], default=0) >= 0xFFFF
        assert codec._body_small(toks, ids, alt_ids, k, wide) == codec._body_numpy(toks, ids, alt_ids, k, wide)


def test_chosen_ids_survive_when_only_the_alternatives_lack_ids(tmp_path):
    """A server that names its sampled ids but not its alternatives' (vLLM):
    the session keeps the sampled ids, so the node can go back as ids."""
    toks = [
        Token(t, -0.1 * i, 300 + i, (Alternative(t, -0.1 * i, None), Alternative(" x", -2.5, None)))
        for i, t in enumerate(["Once", " upon", " a", " time"])
    ]
    with Session(tmp_path / "s.loom") as s:
        root = s.add_node(None, "Tell me", "prompt")
        node = s.add_node(root.id, "".join(t.text for t in toks), "model", model="srv", tokens=toks)
        got = s.node(node.id).tokens
        assert [t.token_id for t in got] == [300, 301, 302, 303]
        assert [[(a.text, a.token_id) for a in t.alternatives] for t in got] == [
            [(t.text, None), (" x", None)] for t in toks
        ]
        # and without any ids: none are made up
        plain = [Token(t.text, t.logprob, None, t.alternatives) for t in toks]
        other = s.add_node(root.id, node.text, "model", model="srv", tokens=plain)
        assert [t.token_id for t in s.node(other.id).tokens] == [None] * 4


def test_the_small_and_the_numpy_decoder_read_the_same_tokens(monkeypatch):
    """Small blobs are decoded in plain Python (exporting 100,000 nodes spent a third of its time
    in numpy's per-call cost there), large ones with numpy: both give the same tokens, bit for bit."""
    import random

    rng = random.Random(11)
    blobs = []
    for trial in range(300):
        toks, ids, alt_ids = [], [], []
        for _ in range(rng.randint(0, 12)):
            alts = tuple(
                Alternative("a", rng.choice([-rng.random() * 20, float("-inf"), None, -0.9, 0.0]), rng.randint(0, 9))
                for _ in range(rng.randint(0, 5))
            )
            tid = rng.randint(0, 70_000 if trial % 2 else 60_000)
            toks.append(Token("t" * rng.randint(0, 3), rng.choice([None, -rng.random() * 5, float("-inf")]), tid, alts))
            ids.append(tid)
            alt_ids.append([a.token_id for a in alts])
        blob = codec.encode(toks, ids, alt_ids, interned=trial % 3 == 0)
        blobs.append((blob, "".join(t.text for t in toks)))

    def read(b, text):
        out = codec.decode(b, text, lambda ids: {i: f"v{i}" for i in ids})
        lazy = [repr(t.alternatives.rows()) for t in out]  # read before the objects are made, and after
        assert lazy == [repr([(a.text, a.logprob, a.token_id) for a in t.alternatives]) for t in out]
        assert lazy == [repr(t.alternatives.rows()) for t in out]
        return [
            (
                t.text,
                repr(t.logprob),
                t.token_id,
                t.raw,
                [(a.text, repr(a.logprob), a.token_id) for a in t.alternatives],
            )
            for t in out
        ]

    small = [read(b, text) for b, text in blobs]
    monkeypatch.setattr(codec, "SMALL", 0)  # every blob through numpy
    assert [read(b, text) for b, text in blobs] == small
    assert any(t for t in small)
