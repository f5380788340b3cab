"""The session store on real SQLite files."""

import sqlite3

import pytest

from loom.store import Session, StoreError
from loom.store.schema import SCHEMA_VERSION
from loom.tree import Alternative, Token


def toks(*pairs, ids=True):
    out = []
    for i, (text, lp) in enumerate(pairs):
        alts = (Alternative(text, lp, i if ids else None), Alternative("x", lp - 1, 999 if ids else None))
        out.append(Token(text, lp, i if ids else None, alts))
    return out


def test_nodes_survive_reopen_with_tokens_and_state(tmp_path):
    path = tmp_path / "a.loom"
    with Session(path) as s:
        root = s.add_node(None, "Hello", "prompt")
        kid = s.add_node(
            root.id,
            " wor\u00e9ld",
            "model",
            model="m",
            params={"n": 2, "seed": 3},
            tokens=toks((" wor", -0.5), ("\u00e9", -2.0), ("ld", -0.01)),
        )
        s.current = kid.id
    with Session(path) as s:
        assert s.current == kid.id
        n = s.node(kid.id)
        assert n.text == " wor\u00e9ld" and n.params == {"n": 2, "seed": 3}
        assert [t.text for t in n.tokens] == [" wor", "\u00e9", "ld"]
        assert n.tokens[1].logprob == pytest.approx(-2.0)
        assert n.tokens[0].alternatives[1].text == "x" and n.tokens[0].alternatives[1].token_id == 999
        assert s.path_text(kid.id) == "Hello wor\u00e9ld"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_api_tokens_without_ids_are_interned(tmp_path):
    with Session(tmp_path / "a.loom") as s:
        n = s.add_node(None, "ab", "model", model="gpt", tokens=toks(("a", -1.0), ("b", -0.1), ids=False))
        back = s.node(n.id).tokens
        assert [t.token_id for t in back] == [None, None]
        assert back[0].alternatives[1].text == "x" and back[0].alternatives[1].token_id is None


def test_tokens_must_add_up_to_text(tmp_path):
    with Session(tmp_path / "a.loom") as s:
        with pytest.raises(ValueError):
            s.add_node(None, "abc", "model", tokens=toks(("a", -1.0)))


def test_not_a_database_is_refused_untouched(tmp_path):
    bad = tmp_path / "bad.loom"
    bad.write_bytes(b"this is not sqlite at all" * 10)
    before = bad.read_bytes()
    with pytest.raises(StoreError, match="not an SQLite database"):
        Session(bad)
    assert bad.read_bytes() == before


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "new.loom"
    with Session(path) as s:
        s.add_node(None, "x", "prompt")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer loom"):
        Session(path)
    assert path.read_bytes() == before


def test_paths_children_and_search(tmp_path):
    with Session(tmp_path / "a.loom") as s:
        parent = s.add_node(None, "root ", "prompt").id
        for depth in range(30):
            parent = s.add_node(parent, f"level{depth} ", "human").id
        deep = s.add_node(parent, "the hidden dragon", "human")
        assert len(s.path_nodes(deep.id)) == 32
        assert s.search("hidden dragon")[0]["id"] == deep.id
        assert s.summaries(deep.parent_id)[0]["preview"] == "the hidden dragon"
        assert s.child_counts([deep.parent_id]) == {deep.parent_id: 1}


def test_an_alternative_without_an_id_is_stored(tmp_path):
    """Token ids on the chosen tokens but not on every alternative (a server may leave one out)."""
    from loom.tree import Alternative, Token

    with Session(tmp_path / "s.loom") as s:
        toks = [Token(" a", -0.5, 5, (Alternative(" a", -0.5, 5), Alternative(" b", -1.5, None)))]
        node = s.add_node(None, " a", "model", model="m", tokens=toks)
        back = s.node(node.id).tokens[0]
        assert [(a.text, a.logprob) for a in back.alternatives] == [(" a", -0.5), (" b", -1.5)]
