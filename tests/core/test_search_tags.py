"""Search over node texts (any substring, any letter case) reaches deep nodes; tags, bookmarks and notes on nodes."""

import json
import sqlite3

import pytest
from socketteer_files import PEERS_DEMO as DEMO

from loom.cli import main
from loom.io import import_file
from loom.io.search import search
from loom.store import Session
from loom.store.schema import MIGRATIONS


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
            start, end = hit["match"]
            assert hit["context"][start:end] == phrase and "\n" not in hit["context"]


def test_search_is_a_phrase_and_reports_context(demo):
    with Session(demo) as s:
        hits = search(s, "wake up", limit=100)
        assert hits and all(h["context"][slice(*h["match"])].lower() == "wake up" for h in hits)
        assert search(s, "up wake zzqx") == []
        # quotes and FTS operators in the query are plain text, not syntax
        assert search(s, 'wake" OR "dream') == []


def test_cli_search_json_and_text(demo, capsys):
    assert main(["search", str(demo), "wake up", "--json", "--limit", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and {"id", "depth", "tags", "note", "context"} <= set(hits[0])
    assert main(["search", str(demo), "wake up"]) == 0
    out = capsys.readouterr().out
    assert "[wake up]" in out.lower() and "(depth " in out
    assert main(["search", str(demo), "   "]) == 2
    assert "query is empty" in capsys.readouterr().err


def test_search_finds_what_a_user_sees_and_keeps_the_text_around_it(session):
    texts = {
        "escape": "\x1b[31mredder\x1b[0m tail",
        "emoji": "x\U0001f44d\U0001f3fdthumbs\u200bup",
        "spaced": "before   the  match   after",
        "guillemets": "«quoted» words « and » more",
        "accents": "L'ÉTÉ est là",
    }
    ids = {k: session.add_node(None, t, "prompt").id for k, t in texts.items()}

    def find(q):
        return {h["id"]: h for h in search(session, q)}

    assert ids["escape"] in find("redder")  # a word glued to an escape sequence
    assert ids["escape"] in find("edd")  # any part of a word
    assert ids["emoji"] in find("thumbs") and ids["emoji"] in find("👍🏽")
    assert ids["accents"] in find("été")  # letter case beyond ASCII
    hit = find("the  match")[ids["spaced"]]  # the user's own spacing, in the query and in the result
    assert hit["context"] == "before   the  match   after" and hit["context"][slice(*hit["match"])] == "the  match"
    hit = find("and")[ids["guillemets"]]
    assert hit["context"] == texts["guillemets"] and hit["context"][slice(*hit["match"])] == "and"
    assert ids["spaced"] in find("be")  # short queries too
    long_text = "a" * 500 + " needle " + "b" * 500
    nid = session.add_node(None, long_text, "prompt").id
    hit = find("needle")[nid]
    assert hit["context"][slice(*hit["match"])] == "needle" and len(hit["context"]) < 120


async def test_app_search_marks_the_match_not_the_users_guillemets(session):
    from loom.ui.library import context_text

    shown = context_text("«quoted» and more", (9, 12))
    assert shown.plain == "«quoted» and more"
    bold = [shown.plain[s.start : s.end] for s in shown.spans if "reverse" in str(s.style)]
    assert bold == ["and"]


def test_tags_bookmarks_and_notes_from_the_cli(tmp_path, capsys):
    path = str(tmp_path / "t.loom")
    assert main(["new", path, "--prompt", "Once"]) == 0
    with Session(path) as s:
        kid = s.add_node(s.current, " upon", "human").id
    capsys.readouterr()
    assert (
        main(["tag", path, "--node", str(kid), "--add", "attractor", "--bookmark", "--note", "drifts back", "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == {
        "id": kid,
        "tags": ["attractor", "bookmark"],
        "bookmarked": True,
        "note": "drifts back",
    }
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
