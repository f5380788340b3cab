"""Imports are all or nothing: a file is checked whole before the first write
(every problem listed, one line each), a good file is written in one SQLite
transaction (a process killed midway leaves none of it), and importing the same
file again to the same place is refused instead of duplicating it. Exports
stream to a file and give the same bytes as before."""

import hashlib
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from socketteer_files import PEERS_DEMO as DEMO

from loom.cli import main
from loom.io import TreeFormatError, export_text, import_file, loomjson, socketteer
from loom.store import Session
from loom.tree import Alternative, Token


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def small_session(path: Path) -> Session:
    s = Session(path)
    root = s.add_node(None, "Once", "prompt")
    a = s.add_node(
        root.id,
        " upon",
        "model",
        model="m",
        tokens=[Token(" upon", -0.25, None, (Alternative(" upon", -0.25), Alternative(" at", -2.0)))],
    )
    s.add_node(a.id, " a time", "human")
    s.add_node(root.id, " more", "edit", derived_from=a.id)
    s.add_tag(a.id, "bookmark")
    s.set_note(root.id, "the start")
    return s


def loom_export(tmp_path: Path) -> dict:
    with small_session(tmp_path / "src.loom") as s:
        return json.loads(export_text(s, "loom-json")[0])


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- loom-json: checked before the first write -----------------------------------
def test_duplicate_node_id_is_refused_and_nothing_is_written(tmp_path, capsys):
    data = loom_export(tmp_path)
    data["nodes"].append(dict(data["nodes"][2]))  # the same id twice
    bad = write(tmp_path / "dup.loom.json", data)
    target = tmp_path / "host.loom"
    with Session(target) as s:
        s.add_node(None, "already here", "prompt")
    before = digest(target)
    rc = main(["import", str(bad), "--into", str(target), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"node {data['nodes'][2]['id']}: the id is used by more than one node" in err
    assert "nothing was imported" in err and f"0 of the file's {len(data['nodes'])} nodes kept" in err
    assert digest(target) == before  # the session file is unchanged, byte for byte
    with Session(target) as s:
        assert s.count() == 1


def test_every_problem_is_listed_one_line_each_capped(tmp_path, session):
    data = loom_export(tmp_path)
    good = len(data["nodes"])
    for i in range(15):
        data["nodes"].append({"id": 100 + i, "parent": 999, "text": "x", "author": "human"})
    data["nodes"].append({"id": 200, "parent": None, "text": 5, "author": "human"})
    with pytest.raises(TreeFormatError) as err:
        loomjson.import_data(session, data)
    lines = str(err.value).splitlines()
    assert lines[0] == f"16 problems; nothing was imported (0 of the file's {good + 16} nodes kept):"
    assert lines[1] == "  node 200 is malformed: text must be a string (got int)"
    assert lines[2] == "  node 100: its parent 999 is not in the file"
    assert len(lines) == 1 + 10 + 1 and lines[-1] == "  and 6 more"
    assert session.count() == 0


def test_missing_parent_is_an_error_but_a_subtree_top_is_not(tmp_path, session):
    with small_session(tmp_path / "src.loom") as s:
        sub = json.loads(export_text(s, "loom-json", 2)[0])  # the subtree under node 2
    assert sub["root"] == 2 and sub["nodes"][0]["parent"] == 1  # its top's parent is outside the file
    base = session.add_node(None, "Elsewhere", "prompt")
    out = loomjson.import_data(session, sub, under=base.id)
    assert out["nodes"] == 2 and session.node(out["roots"][0]).parent_id == base.id
    # a second node whose parent is outside the file: refused, whatever the subtree
    sub["nodes"].append({"id": 9, "parent": 7, "text": "?", "author": "human"})
    count = session.count()
    with pytest.raises(TreeFormatError, match="node 9: its parent 7 is not in the file .only the subtree's top"):
        loomjson.import_data(session, sub, under=base.id)
    assert session.count() == count


def test_a_cycle_of_parents_is_refused(session):
    data = {
        "format": "loom-session",
        "version": 1,
        "root": None,
        "nodes": [
            {"id": 1, "parent": None, "text": "root", "author": "prompt"},
            {"id": 2, "parent": 3, "text": "a", "author": "human"},
            {"id": 3, "parent": 2, "text": "b", "author": "human"},
            {"id": 4, "parent": 3, "text": "c", "author": "human"},
        ],
    }
    with pytest.raises(TreeFormatError, match=r"nodes 2 -> 3 -> 2: each is the parent of the one before, a cycle"):
        loomjson.import_data(session, data)
    assert session.count() == 0


def test_parents_after_children_in_the_file_are_fine(session):
    data = {
        "format": "loom-session",
        "version": 1,
        "root": None,
        "nodes": [
            {"id": 1, "parent": 5, "text": " b", "author": "human"},
            {"id": 5, "parent": None, "text": "a", "author": "prompt"},
        ],
    }
    loomjson.import_data(session, data)
    assert session.path_text(1) == "a b"


@pytest.mark.parametrize(
    "node, message",
    [
        (
            {"id": 1, "parent": None, "text": "a", "author": "human", "tokens": [{"text": "b", "logprob": -1.0}]},
            "node 1 is malformed: its token texts do not add up to its text",
        ),
        (
            {"id": 1, "parent": None, "text": "a", "author": "human", "created": "yesterday"},
            "node 1 is malformed: created must be a number or null (got str)",
        ),
        ({"id": "1", "parent": None, "text": "a", "author": "human"}, "nodes[0]: id must be a whole number"),
        (
            {"id": 1, "parent": None, "text": "a", "author": "human", "tokens": [{"text": "a", "logprob": "high"}]},
            "node 1 is malformed: tokens[0]: logprob must be a number",
        ),
    ],
)
def test_wrong_types_are_named(session, node, message):
    with pytest.raises(TreeFormatError) as err:
        loomjson.import_data(session, {"format": "loom-session", "version": 1, "nodes": [node]})
    assert str(err.value) == f"{message}; nothing was imported (0 of the file's 1 nodes kept)" or message in str(
        err.value
    )
    assert "\n" not in str(err.value)
    assert session.count() == 0


def test_bad_tags_or_records_write_nothing_either(tmp_path, session):
    data = loom_export(tmp_path)
    data["records"] = [{"kind": "compare"}]
    with pytest.raises(TreeFormatError, match=r"records\[0\] must be an object"):
        loomjson.import_data(session, data)
    assert session.count() == 0 and session.state_items() == {}


def test_loom_json_imported_twice_to_the_same_place_is_refused(tmp_path, capsys):
    src = tmp_path / "src.loom.json"
    with small_session(tmp_path / "src.loom") as s:
        src.write_text(export_text(s, "loom-json")[0])
    host = tmp_path / "host.loom"
    with Session(host) as h:
        h.add_node(None, "Host", "prompt")
    assert main(["import", str(src), "--into", str(host), "--quiet"]) == 0
    capsys.readouterr()
    before = digest(host)
    assert main(["import", str(src), "--into", str(host), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already imported" in err and "nothing was imported again" in err
    assert digest(host) == before
    with Session(host) as h:
        assert h.count() == 5
        # to another place it is a deliberate copy, and allowed
        out = loomjson.import_data(h, json.loads(src.read_text()), under=1)
        assert out["nodes"] == 4 and h.count() == 9


# -- the original loom's JSON ------------------------------------------------------
def test_socketteer_bad_node_deep_in_the_file_writes_nothing(tmp_path):
    tree = json.loads(DEMO.read_text(encoding="utf-8"))
    node = tree["root"]
    while node.get("children"):
        node = node["children"][-1]
    node["children"] = [{"id": "bad", "text": ["not", "text"]}]  # the last node of the file
    bad = write(tmp_path / "bad.json", tree)
    with Session(tmp_path / "s.loom") as s:
        with pytest.raises(TreeFormatError, match=r"\(id bad\): text must be a string; nothing was imported"):
            import_file(s, bad)
        assert s.count() == 0 and s.state_items() == {}


def test_socketteer_duplicate_ids_are_refused(tmp_path, session):
    data = {"root": {"id": "r", "text": "a", "children": [{"id": "x", "text": "b"}, {"id": "x", "text": "c"}]}}
    with pytest.raises(TreeFormatError, match=r"root.children\[1\]: id 'x' is also the id of root.children\[0\]"):
        socketteer.import_data(session, data)
    assert session.count() == 0


def test_socketteer_ids_whose_hashes_are_alike_are_told_apart(session, monkeypatch):
    # the check keeps the ids' hashes, not the ids: where two hash alike it looks again, at the ids themselves
    monkeypatch.setattr(socketteer, "hash", lambda sid: 7, raising=False)
    data = {"root": {"id": "r", "text": "a", "children": [{"id": "x", "text": "b"}, {"id": "y", "text": "c"}]}}
    assert socketteer.import_data(session, data)["nodes"] == 3
    twice = {"root": {"id": "r", "text": "a", "children": [{"id": "x", "text": "b"}, {"id": "r", "text": "c"}]}}
    with pytest.raises(TreeFormatError, match=r"^root.children\[1\]: id 'r' is also the id of root; nothing"):
        socketteer.import_data(session, twice)
    assert session.count() == 3


def test_socketteer_imported_twice_to_the_same_place_is_refused(tmp_path, capsys):
    host = tmp_path / "demo.loom"
    assert main(["import", str(DEMO), "--into", str(host), "--quiet"]) == 0
    capsys.readouterr()
    before = digest(host)
    assert main(["import", str(DEMO), "--into", str(host), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already imported into this session as a root as nodes 1..764" in err
    assert "nothing was imported again" in err and "Traceback" not in err
    assert digest(host) == before
    # the same content laid out differently is the same file
    again = write(tmp_path / "compact.json", json.loads(DEMO.read_text(encoding="utf-8")))
    with Session(host) as s:
        with pytest.raises(TreeFormatError, match="already imported"):
            import_file(s, again)
        assert s.count() == 764


# -- one transaction: a process killed midway leaves nothing -------------------------
KILLER = textwrap.dedent("""
    import os, sys
    from loom.io import import_file
    from loom.store import Session

    def progress(done, total):
        if done >= 300:
            os._exit(9)  # like a kill: no rollback, no close

    with Session(sys.argv[1]) as s:
        import_file(s, sys.argv[2], progress=progress)
""")


@pytest.mark.parametrize("fmt", ["socketteer", "loom-json"])
def test_an_import_killed_midway_leaves_nothing(tmp_path, fmt):
    src = DEMO
    if fmt == "loom-json":
        with Session(tmp_path / "demo.loom") as s:
            import_file(s, DEMO)
            src = tmp_path / "demo.loom.json"
            src.write_text(export_text(s, "loom-json")[0])
    target = tmp_path / "host.loom"
    with Session(target) as s:
        s.add_node(None, "before", "prompt")
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(target), str(src)], cwd=Path(__file__).resolve().parents[2]
    )
    assert proc.returncode == 9
    with Session(target) as s:
        assert s.count() == 1 and [s.node(i).text for i in s.all_ids()] == ["before"]
        assert s.get_state("imports") is None


# -- export streams, with the bytes of before ---------------------------------------------
def old_json_export(session, fmt, node=None) -> str:
    mod = loomjson if fmt == "loom-json" else socketteer
    data = mod.export_data(session, node)
    text = json.dumps(data, ensure_ascii=False, indent=1)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, indent=1)
    return text + "\n"


@pytest.mark.parametrize("fmt", ["loom-json", "socketteer"])
def test_streamed_export_has_the_bytes_of_json_dump(tmp_path, fmt):
    with Session(tmp_path / "demo.loom") as s:
        import_file(s, DEMO)
        for node in (None, 5):
            assert export_text(s, fmt, node)[0] == old_json_export(s, fmt, node)
    with small_session(tmp_path / "multi.loom") as s:
        s.add_node(None, "A second root \ud800", "prompt")  # two roots, and a lone surrogate
        for node in (None, 2):
            text = export_text(s, fmt, node)[0]
            assert text == old_json_export(s, fmt, node)
        from loom.io import export_to

        fh = io.StringIO()
        fh.write("kept before: ")
        export_to(s, fmt, fh)  # starting again in ASCII rewinds only to where the export began
        assert fh.getvalue() == "kept before: " + old_json_export(s, fmt)


def test_csv_and_jsonl_streamed_are_the_same_rows(tmp_path):
    from loom.io.text import token_rows, write_csv, write_jsonl

    with small_session(tmp_path / "t.loom") as s:
        s.add_node(
            3,
            " and",
            "model",
            model="m",
            tokens=[
                Token(" a", -0.5, 7),
                Token(
                    "nd",
                    -1.5,
                    8,
                    (Alternative("nd", -1.5, 8), Alternative("ny", -2.0, 9), Alternative(',x"', -3.0, 10)),
                ),
            ],
        )
        for fmt, writer in (("csv", write_csv), ("jsonl", write_jsonl)):
            for node in (None, 3):
                buf = io.StringIO()
                n = writer(token_rows(s, node), buf)
                assert export_text(s, fmt, node) == (buf.getvalue(), n) and n >= 2


def test_socketteer_malformed_token_data_is_named_not_a_traceback(session):
    data = {
        "root": {
            "id": "r",
            "text": "a",
            "children": [{"id": "g", "text": " b", "generation": {"id": "c1", "index": 0}}],
        },
        "model_responses": {"c1": {"completions": [{"tokens": ["not a token"]}]}},
    }
    with pytest.raises(
        TreeFormatError,
        match=r"root.children\[0\] \(id g\): its token data in model_responses "
        r"is malformed \(token 0 is not an object\); nothing was imported",
    ):
        socketteer.import_data(session, data)
    assert session.count() == 0


def test_socketteer_file_malformed_completion_found_when_read_in_pieces(tmp_path, session):
    """A file read in pieces (its responses spooled) is checked as one read whole: a node naming a
    malformed completion is refused, whichever index names it, and a malformed completion that
    no node names is no problem."""
    good = {"generatedToken": {"token": " b", "logprob": -0.5}, "counterfactuals": {" b": -0.5}}
    responses = {f"ok{i}": {"completions": [{"text": " b", "tokens": [good]}]} for i in range(200)}
    responses["bad"] = {"completions": [{"text": " b", "tokens": [good]}, {"tokens": [good, "not a token"]}]}
    kids = [{"id": f"n{i}", "text": " b", "generation": {"id": f"ok{i}", "index": 0}} for i in range(200)]
    kids.append({"id": "fine", "text": " b", "generation": {"id": "bad", "index": 0}})
    data = {"root": {"id": "r", "text": "a", "children": kids}, "model_responses": responses}
    unnamed = write(tmp_path / "unnamed.json", data)
    assert import_file(session, unnamed)["nodes"] == 202  # the bad completion is named by nobody
    for index in (1, -1):
        kids[-1]["generation"]["index"] = index
        named = write(tmp_path / f"named{index}.json", data)
        with Session(tmp_path / f"s{index}.loom") as fresh:
            with pytest.raises(
                TreeFormatError,
                match=r"root.children\[200\] \(id fine\): its token data in model_responses "
                r"is malformed \(token 1 is not an object\)",
            ):
                import_file(fresh, named)
            assert fresh.count() == 0
