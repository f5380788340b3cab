"""A path read from a session decodes each node's tokens when first read (a long
path opens on its end without decoding the rest), and a path's tokens decode
without importing numpy: the same tokens, the same Nodes."""

import copy
import pickle
import subprocess
import sys
from dataclasses import replace

from loom.store import Session, codec
from loom.store.session import StoredNode
from loom.tree import Alternative, Node, Token


def model_node(s, parent, n=64, k=10):
    toks = [
        Token(
            f" t{i}", -0.01 * (i % 50), i, tuple(Alternative(f" a{j}", -0.1 * j - 0.01 * i, 1000 + j) for j in range(k))
        )
        for i in range(n)
    ]
    return s.add_node(parent, "".join(t.text for t in toks), "model", model="m", tokens=toks).id


def test_path_nodes_decode_their_tokens_when_read(tmp_path):
    path = tmp_path / "s.loom"
    with Session(path) as s:
        ids = [s.add_node(None, "prompt", "prompt").id]
        for _ in range(3):
            ids.append(model_node(s, ids[-1]))
    with Session(path) as s, Session(path) as other:
        nodes = s.path_nodes(ids[-1])
        assert [type(n) for n in nodes] == [Node, StoredNode, StoredNode, StoredNode]
        assert all(n._pending is not None for n in nodes[1:])
        assert [n.token_count() for n in nodes] == [0, 64, 64, 64]
        assert all(n._pending is not None for n in nodes[1:])  # counted from the blob's header
        plain = [other.node(i) for i in ids]
        assert nodes == plain and plain == nodes  # read, they are the nodes a plain read gives
        assert all(n._pending is None for n in nodes[1:])
        assert [n.tokens for n in nodes] == [n.tokens for n in plain]
        assert repr(nodes[1]) == repr(plain[1])
        again = s.path_nodes(ids[-2])  # a move reuses the decoded nodes
        assert again[1] is nodes[1]


def test_a_stored_node_copies_and_pickles_as_a_node(tmp_path):
    with Session(tmp_path / "s.loom") as s:
        root = s.add_node(None, "prompt", "prompt").id
        node = s.path_nodes(model_node(s, root))[-1]
        assert isinstance(node, StoredNode) and node._pending is not None
        for made in (pickle.loads(pickle.dumps(node)), copy.copy(node), copy.deepcopy(node)):
            assert type(made) is Node and made == node and made.tokens == node.tokens
        changed = replace(node, text=node.text)
        assert changed == node and changed.token_count() == 64
        node.tokens = None  # set, as a Node's
        assert node.tokens is None and node.token_count() == 0


def test_plain_python_and_numpy_decode_alike(tmp_path, monkeypatch):
    with Session(tmp_path / "s.loom") as s:
        root = s.add_node(None, "prompt", "prompt").id
        node_id = model_node(s, root, n=200, k=12)
        blob, text = s.conn.execute("SELECT tokens, text FROM nodes WHERE id = ?", (node_id,)).fetchone()

    def names(ids):
        return {i: f"#{i}" for i in ids}

    def tokens():
        return [(t.text, t.logprob, t.token_id, tuple(t.alternatives)) for t in codec.decode(blob, text, names)]

    monkeypatch.setattr(codec, "SMALL", 10**9)
    python = tokens()
    monkeypatch.setattr(codec, "SMALL", 0)
    monkeypatch.setattr(codec, "SMALL_WITHOUT_NUMPY", 0)
    assert tokens() == python


def test_a_path_is_read_without_numpy(tmp_path):
    path = tmp_path / "s.loom"
    with Session(path) as s:
        ids = [s.add_node(None, "prompt", "prompt").id]
        for _ in range(3):
            ids.append(model_node(s, ids[-1]))
    code = (
        "import sys\n"
        "from loom.store import Session\n"
        f"s = Session({str(path)!r})\n"
        f"print(sum(len(n.tokens or ()) for n in s.path_nodes({ids[-1]})), 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["192", "False"]
