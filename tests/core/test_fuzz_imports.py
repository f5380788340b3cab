"""Fuzzing the importers: loom's JSON and the original loom's JSON, mutated.

Hypothesis starts from real files (a loom-JSON export of a real session,
the original loom's demo file from the peers folder, and a file of its 2021
shape made as its source writes them), replaces parts with
random JSON, drops keys, duplicates nodes, cuts the file short or writes
garbage, and imports the result through the CLI into a session that
already holds nodes. Invariants: exit status 0 or 2 with one clear
message (never a traceback); on 2 the session file is byte for byte what
it was; on 0 the session holds exactly the nodes it reported; the input
file is never changed.

Runs briefly in the suite; longer on demand:
    LOOM_FUZZ_EXAMPLES=2000 python -m pytest tests/core/test_fuzz_imports.py
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mutations import mutated
from socketteer_files import PEERS_DEMO as PEER
from socketteer_files import file_2021

from loom.cli import main
from loom.store import Session
from loom.tree import Alternative, Token

EXAMPLES = int(os.environ.get("LOOM_FUZZ_EXAMPLES", "40"))


def loom_json_doc(tmp: Path) -> dict:
    path = tmp / "source.loom"
    with Session(path) as s:
        root = s.add_node(None, "Once upon a time", "prompt")
        toks = [
            Token(" there", -0.5, 5, (Alternative(" there", -0.5, 5), Alternative(" a", -1.5, 6))),
            Token(" was", -0.2, 7, (Alternative(" was", -0.2, 7),)),
        ]
        a = s.add_node(root.id, " there was", "model", model="demo", tokens=toks, params={"n": 1, "seed": 3})
        s.add_node(a.id, " a king", "human")
        s.add_node(root.id, " far away", "human")
        s.add_tag(a.id, "bookmark")
        s.set_note(a.id, "a note")
    out = tmp / "source.json"
    assert main(["export", str(path), "-f", "loom-json", "-o", str(out), "--quiet"]) == 0
    return json.loads(out.read_text())


def trimmed(doc: dict, keep: int) -> dict:
    """The peer file with its tree cut to about `keep` nodes (breadth first) and only their
    responses: real shapes, small enough for a failing example to be read."""
    doc = copy.deepcopy(doc)
    queue, kept, gens = [doc["root"]], 0, set()
    while queue:
        node = queue.pop(0)
        kept += 1
        if isinstance(node.get("generation"), dict):
            gens.add(node["generation"].get("id"))
        node["children"] = node.get("children", [])[: max(0, min(3, keep - kept - len(queue)))]
        node["text"] = node.get("text", "")[:200]
        queue += node["children"]
    doc["model_responses"] = {k: v for k, v in (doc.get("model_responses") or {}).items() if k in gens}
    doc["chapters"] = dict(list((doc.get("chapters") or {}).items())[:3])
    return doc


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sources")
    peer = json.loads(PEER.read_text(encoding="utf-8"))
    return loom_json_doc(tmp), trimmed(peer, 30), file_2021()


@st.composite
def files(draw, sources):
    doc = draw(st.sampled_from(sources))
    data = json.dumps(draw(mutated(doc, changes=4, duplicate=True)), ensure_ascii=False).encode("utf-8")
    if draw(st.integers(0, 6)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 10)) == 0:
        data = draw(st.binary(max_size=200))
    return data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_any_file_is_imported_whole_or_not_at_all(sources, tmp_path_factory, capsys, data):
    blob = data.draw(files(sources))
    tmp = tmp_path_factory.mktemp("fuzz")
    src = tmp / "in.json"
    src.write_bytes(blob)
    session = tmp / "s.loom"
    with Session(session) as s:
        s.current = s.add_node(None, "already here", "prompt").id
    before = session.read_bytes()
    rc = main(["import", str(src), "--into", str(session), "--under", "--quiet", "--json"])
    out, err = capsys.readouterr()
    assert rc in (0, 2), err
    assert "Traceback" not in err
    assert src.read_bytes() == blob
    if rc == 2:
        event("refused")
        assert err.startswith("loom: error: ") and err.count("\n") >= 1
        assert session.read_bytes() == before, "a refused import changed the session"
    else:
        event("imported")
        summary = json.loads(out)
        with Session(session) as s:
            assert s.count() == 1 + summary["nodes"]
            for nid in s.all_ids():
                node = s.node(nid)
                assert node.tokens is None or "".join(t.text for t in node.tokens) == node.text
