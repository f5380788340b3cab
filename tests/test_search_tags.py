"""Search over node texts (FTS5) reaches deep nodes; tags, bookmarks and notes on nodes."""

import json
import sqlite3
from pathlib import Path

import pytest

from loom.cli import main
from loom.io import import_file
from loom.io.search import search
from loom.store import Session
from loom.store.schema import MIGRATIONS

DEMO = Path("/work/shared/peers/socketteer-loom-demo.json")
if not DEMO.exists():
    DEMO = Path(__file__).resolve().parents[2] / "shared" / "peers" / "socketteer-loom-demo.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "demo.loom"
    with Session(path) as s:
        import_file(s, DEMO)
    return path


def test_search_finds_text_in_the_deepest_nodes(demo):
    with Session(demo) as s:
        deep = [i for i in s.all_ids() if len(s.ancestry(i)) - 1 >= 20 and len(s.node(i).text.split()) > 8]
        assert deep
        for nid in deep[:5]:
            words = s.node(nid).text.split()
            phrase = " ".join(words[2:6])
            hits = search(s, phrase, limit=500)
            hit = next(h for h in hits if h["id"] == nid)
            assert hit["depth"] >= 20
            assert "«" in hit["context"] and "\n" not in hit["context"]


def test_search_is_a_phrase_and_reports_context(demo):
    with Session(demo) as s:
        hits = search(s, "wake up", limit=100)
        assert hits and all("«wake up»" in h["context"].lower() for h in hits)
        assert search(s, "up wake zzqx") == []
        # quotes and FTS operators in the query are plain text, not syntax
        assert search(s, 'wake" OR "dream') == []


def test_cli_search_json_and_text(demo, capsys):
    assert main(["search", str(demo), "wake up", "--json", "--limit", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and {"id", "depth", "tags", "note", "context"} <= set(hits[0])
    assert main(["search", str(demo), "wake up"]) == 0
    out = capsys.readouterr().out
    assert "«wake up»" in out and "(depth " in out
    assert main(["search", str(demo), "   "]) == 2
    assert "query is empty" in capsys.readouterr().err


def test_tags_bookmarks_and_notes_from_the_cli(tmp_path, capsys):
    path = str(tmp_path / "t.loom")
    assert main(["new", path, "--prompt", "Once"]) == 0
    with Session(path) as s:
        kid = s.add_node(s.current, " upon", "human").id
    capsys.readouterr()
    assert main(["tag", path, "--node", str(kid), "--add", "attractor", "--bookmark", "--note", "drifts back", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": kid, "tags": ["attractor", "bookmark"], "bookmarked": True,
                                                   "note": "drifts back"}
    assert main(["tag", path, "--bookmarks", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [kid]
    assert main(["tag", path, "--list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"attractor": 1, "bookmark": 1}
    assert main(["tag", path, "--node", str(kid), "--unbookmark", "--note", ""]) == 0
    with Session(path) as s:
        assert s.tags(kid) == ["attractor"] and s.note(kid) is None
        assert s.count() == 2  # tagging and notes never add or rewrite nodes
    assert main(["tag", path, "--node", "99", "--add", "x"]) == 2
    assert "no node 99" in capsys.readouterr().err
    assert main(["tag", path, "--add", " "]) == 2
    assert "cannot be empty" in capsys.readouterr().err


def test_a_schema_1_session_gains_notes_and_keeps_its_nodes(tmp_path):
    old = tmp_path / "old.loom"
    conn = sqlite3.connect(old)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO nodes (parent_id, text, author, created) VALUES (NULL, 'kept', 'prompt', 0)")
    conn.commit()
    conn.close()
    with Session(old) as s:
        assert s.node(1).text == "kept"
        s.set_note(1, "a note")
        assert s.notes() == {1: "a note"}
    assert (tmp_path / "old.loom.v1.bak").exists()  # the store keeps a copy before migrating
