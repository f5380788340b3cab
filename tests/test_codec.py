"""The token blob: deflated when that is smaller, plain otherwise, and blobs
written before deflating existed still read back."""

import math

import pytest

from loom.store import Session, codec
from loom.tree import Alternative, Token


def tokens(n: int, repetitive: bool) -> list[Token]:
    out = []
    for i in range(n):
        base = 7 if repetitive else (i * 7919) % 60000
        alts = tuple(Alternative(f"t{base + j}", -0.5 * j - (0 if repetitive else i * 0.37 % 3), base + j) for j in range(4))
        out.append(Token(f"t{base}", alts[0].logprob, base, alts))
    return out


def roundtrip(toks: list[Token]) -> tuple[bytes, list[Token]]:
    ids = [t.token_id for t in toks]
    alt_ids = [[a.token_id for a in t.alternatives] for t in toks]
    blob = codec.encode(toks, ids, alt_ids, interned=False)
    names = {i: f"t{i}" for t in toks for i in [t.token_id, *(a.token_id for a in t.alternatives)]}
    return blob, codec.decode(blob, "".join(t.text for t in toks), lambda ids: names)


def same(a: list[Token], b: list[Token]) -> bool:
    return all(
        x.text == y.text and x.token_id == y.token_id and math.isclose(x.logprob, y.logprob, rel_tol=1e-6)
        and [(p.text, p.token_id) for p in x.alternatives] == [(q.text, q.token_id) for q in y.alternatives]
        and all(math.isclose(p.logprob, q.logprob, abs_tol=1e-2) for p, q in zip(x.alternatives, y.alternatives))
        for x, y in zip(a, b)
    ) and len(a) == len(b)


def test_repetitive_tokens_are_deflated_and_read_back():
    toks = tokens(64, repetitive=True)
    blob, back = roundtrip(toks)
    assert blob[0] == codec.VERSION_DEFLATED
    assert same(toks, back)


def test_incompressible_tokens_stay_plain():
    toks = tokens(1, repetitive=False)
    blob, back = roundtrip(toks)
    assert blob[0] == codec.VERSION
    assert same(toks, back)


def test_a_plain_blob_of_a_long_node_still_reads(tmp_path):
    """A version-1 blob as earlier looms wrote it (never deflated) decodes as before."""
    toks = tokens(64, repetitive=True)
    blob, _ = roundtrip(toks)
    import zlib

    plain = bytes([codec.VERSION]) + blob[1 : codec._HEAD.size] + zlib.decompress(blob[codec._HEAD.size :])
    names = {i: f"t{i}" for t in toks for i in [t.token_id, *(a.token_id for a in t.alternatives)]}
    assert same(toks, codec.decode(plain, "".join(t.text for t in toks), lambda ids: names))


def test_unknown_version_is_refused():
    blob, _ = roundtrip(tokens(3, repetitive=True))
    with pytest.raises(ValueError, match="version 9"):
        codec.decode(bytes([9]) + blob[1:], "", lambda ids: {})


def test_new_sessions_use_larger_pages(tmp_path):
    s = Session(tmp_path / "s.loom")
    node = s.add_node(None, "t7t7", "model", model="m", tokens=tokens(2, repetitive=True)[:2])
    assert s.db.conn.execute("PRAGMA page_size").fetchone()[0] == 8192
    assert [t.text for t in s.node(node.id).tokens] == ["t7", "t7"]
