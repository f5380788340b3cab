"""loom's own JSON export is lossless: loom JSON -> loom -> loom JSON gives the
same file, and a session exported and imported is the same session."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loom.cli import main
from loom.experiments.generate import generate_children
from loom.io import TreeFormatError
from loom.io.loomjson import export_data, import_data
from loom.store import Session
from loom.tree import Alternative, GenerationParams, Token


def full_dump(s: Session) -> dict:
    """Everything a session holds, read back through the store (not through the exporter)."""
    return {
        "nodes": [s.node(i) for i in s.all_ids()],
        "tags": s.tag_pairs(),
        "notes": s.notes(),
        "records": s.records(),
        "state": s.state_items(),
    }


@pytest.fixture(scope="module")
def rich_session(tmp_path_factory, demo_backend):
    """A session with real model tokens (ids and alternatives), an edit, an API-style node, tags, notes, records."""
    s = Session(tmp_path_factory.mktemp("rich") / "rich.loom")
    root = s.add_node(None, "Once upon a time", "prompt")
    params = GenerationParams(n=2, max_tokens=5, seed=7, logprobs=4, model="demo")
    kids = generate_children(s, demo_backend, root.id, params).nodes
    edit = s.add_node(root.id, kids[0].text + " (edited)", "edit", derived_from=kids[0].id)
    api = s.add_node(
        edit.id,
        " and then",
        "model",
        model="gpt-x",
        tokens=[
            Token(" and", -0.5, None, (Alternative(" and", -0.5), Alternative(" but", -1.25))),
            Token(" then", -0.125, None, (Alternative(" then", -0.125),), raw=False),
        ],
        complete=False,
        meta={"finish": "cancelled"},
    )
    s.add_tag(kids[1].id, "bookmark")
    s.add_tag(api.id, "attractor")
    s.set_note(edit.id, "perturbed: does it come back?")
    s.add_record(
        "compare", kids[0].id, {"k": 3}, {"reconverged": True, "nodes": [kids[0].id, edit.id]}, other_id=edit.id
    )
    s.current = api.id
    s.set_state("params", params.to_dict())
    yield s
    s.close()


def test_real_tokens_are_in_the_export(rich_session):
    data = export_data(rich_session)
    model_nodes = [n for n in data["nodes"] if n["author"] == "model" and n["model"] == "demo"]
    assert len(model_nodes) == 2
    tok = model_nodes[0]["tokens"][0]
    assert isinstance(tok["id"], int) and len(tok["top"]) == 4 and all(isinstance(a[2], int) for a in tok["top"])


def test_session_export_import_is_the_same_session(rich_session, tmp_path):
    data = json.loads(json.dumps(export_data(rich_session)))
    with Session(tmp_path / "copy.loom") as copy:
        summary = import_data(copy, data)
        assert summary["kept_ids"] and summary["nodes"] == rich_session.count()
        assert full_dump(copy) == full_dump(rich_session)
        assert copy.current == rich_session.current


def test_loom_json_to_loom_to_loom_json_is_identical(rich_session, tmp_path):
    first = tmp_path / "first.json"
    first.write_text(json.dumps(export_data(rich_session), indent=1))
    with Session(tmp_path / "again.loom") as again:
        import_data(again, json.loads(first.read_text()))
        assert json.dumps(export_data(again), indent=1) == first.read_text()


def test_import_under_a_node_maps_every_reference(rich_session, tmp_path):
    edit = next(i for i in rich_session.all_ids() if rich_session.node(i).author == "edit")
    data = export_data(rich_session, edit)  # the edit and the API node below it
    assert [n["id"] for n in data["nodes"]] == rich_session.subtree_ids(edit)
    with Session(tmp_path / "host.loom") as host:
        base = host.add_node(None, "Elsewhere: ", "prompt")
        host.add_node(base.id, " filler", "human")
        out = import_data(host, data, under=base.id)
        assert not out["kept_ids"]
        new_edit = out["id_map"][edit]
        node = host.node(new_edit)
        assert node.parent_id == base.id
        assert node.derived_from is None  # its source was not exported
        assert host.note(new_edit) == "perturbed: does it come back?"
        below = host.children(new_edit, with_tokens=True)[0]
        assert host.tags(below.id) == ["attractor"] and [t.text for t in below.tokens] == [" and", " then"]
        assert host.state_items() == {}  # state belongs to the whole session, not to a subtree


def test_cli_export_then_import(rich_session, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["export", str(rich_session.path), "-f", "loom-json", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == rich_session.count()
    assert main(["--sessions-dir", str(tmp_path), "import", str(out), "--into", "back"]) == 0
    with Session(tmp_path / "back.loom") as back:
        assert full_dump(back) == full_dump(rich_session)


def test_wrong_files_are_refused(tmp_path, session):
    with pytest.raises(TreeFormatError, match="version 99"):
        import_data(session, {"format": "loom-session", "version": 99, "nodes": []})
    with pytest.raises(TreeFormatError, match="node 2 is malformed"):
        import_data(session, {"format": "loom-session", "version": 1, "nodes": [{"id": 2, "parent": None}]})


# -- property: any tree written and read back is identical -------------------------------
# logprobs at the store's precision (fixed point, 1e-4 nats a step), so they read back equal
f32 = f16 = st.integers(0, 600_000).map(lambda q: -q / 10_000)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
alternative = st.builds(Alternative, texts, f16, st.none())
token = st.builds(Token, texts, st.one_of(st.none(), f32), st.none(), st.lists(alternative, max_size=3).map(tuple))
node_spec = st.tuples(
    st.integers(min_value=0, max_value=50),  # parent: an index into the nodes made so far
    st.one_of(texts.map(lambda t: ("text", t)), st.lists(token, min_size=1, max_size=4).map(lambda ts: ("tokens", ts))),
    st.sampled_from(["model", "human", "edit"]),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b"]), st.integers() | texts, max_size=2)),
    st.lists(st.sampled_from(["bookmark", "x", "ü tag"]), max_size=2, unique=True),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(root_text=texts, specs=st.lists(node_spec, max_size=8), note=st.one_of(st.none(), texts))
def test_any_tree_written_and_read_back_is_identical(tmp_path_factory, root_text, specs, note):
    folder = tmp_path_factory.mktemp("prop")
    with Session(folder / "a.loom") as a, Session(folder / "b.loom") as b:
        ids = [a.add_node(None, root_text, "prompt").id]
        written = []
        for parent, (kind, body), author, meta, tags in specs:
            tokens = body if kind == "tokens" else None
            text = "".join(t.text for t in tokens) if tokens else body
            n = a.add_node(
                ids[parent % len(ids)],
                text,
                author,
                tokens=tokens,
                meta=meta,
                model="m" if tokens else None,
                derived_from=ids[-1] if author == "edit" else None,
            )
            for t in tags:
                a.add_tag(n.id, t)
            ids.append(n.id)
            written.append((n.id, text, tokens))
        if note and note.strip():
            a.set_note(ids[-1], note)
        for nid, text, tokens in written:  # the store gives back exactly what was written
            node = a.node(nid)
            assert node.text == text and node.tokens == tokens
        import_data(b, json.loads(json.dumps(export_data(a))))
        assert full_dump(b) == full_dump(a)


# -- byte for byte, through the real CLI -------------------------------------------------
def loom_cli(tmp_path, *args) -> bytes:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "loom", "--sessions-dir", str(tmp_path), *args], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def export_import_export(tmp_path, session: str) -> tuple[bytes, bytes]:
    """`loom export S -f loom-json > a.json; loom import a.json` into a new session; its export."""
    first = loom_cli(tmp_path, "export", session, "-f", "loom-json")
    (tmp_path / f"{session}-a.json").write_bytes(first)
    loom_cli(tmp_path, "import", str(tmp_path / f"{session}-a.json"), "--into", f"{session}-again", "--quiet")
    return first, loom_cli(tmp_path, "export", f"{session}-again", "-f", "loom-json")


def test_a_session_made_with_the_cli_round_trips_byte_for_byte(tmp_path):
    loom_cli(tmp_path, "new", "tale", "--prompt", "Once upon a time", "--model", "demo")
    loom_cli(tmp_path, "generate", "tale", "-n", "3", "--max-tokens", "6", "--seed", "5")
    loom_cli(tmp_path, "generate", "tale", "--node", "2", "-n", "2", "--max-tokens", "5", "--seed", "6")
    loom_cli(
        tmp_path, "tag", "tale", "--node", "3", "--add", "attractor", "--bookmark", "--note", "comes back: é ☕ \u202e"
    )
    loom_cli(tmp_path, "report", "tale", "--node", "2", "-n", "4", "--max-tokens", "4", "--seed", "7")
    first, again = export_import_export(tmp_path, "tale")
    assert json.loads(first)["records"] and json.loads(first)["notes"]
    assert again == first


def test_hostile_text_old_token_blobs_and_imported_files_round_trip_byte_for_byte(tmp_path):
    """Text a terminal would act on, a lone surrogate, NaN and huge numbers in records, token
    blobs written by looms before version 3 (f32/f16: read at the 1e-4 step version 3 keeps),
    and a session imported from the original loom's file (its state holds the file's settings)."""
    from socketteer_files import file_2021
    from test_codec import old_blob

    with Session(tmp_path / "odd.loom") as s:
        root = s.add_node(None, "Root \x1b[31mred\u202e \x85 \ud800 é 🎉 \x00\r\n", "prompt")
        a = s.add_node(
            root.id,
            " tok tok",
            "model",
            model="srv",
            meta={"f": 1e-7, "big": 10**30, "nan": float("nan")},
            tokens=[
                Token(" tok", -0.12345678, None, (Alternative(" tok", -0.12345678), Alternative(" x\ud800", -3.0))),
                Token(" tok", None, None, ()),
            ],
        )
        toks = [
            Token("a", -0.9, 5, (Alternative("a", -0.9, 5), Alternative("b", -2.3, 6))),
            Token("b", -1.23456, 6, (Alternative("b", -1.23456, 6),)),
        ]
        old = s.add_node(a.id, "ab", "model", model="local", tokens=toks)
        s.db.conn.execute("UPDATE nodes SET tokens = ? WHERE id = ?", (old_blob(toks, deflate=True), old.id))
        s.db.conn.commit()
        s.add_node(old.id, " edited", "edit", derived_from=a.id, created=1.5)
        s.add_record("x", a.id, {"k": float("inf")}, {"v": [0.1, 1e300, -1e-300]}, other_id=old.id)
        s.set_state("zeta", {"b": 1, "a": 2})
    first, again = export_import_export(tmp_path, "odd")
    assert again == first
    src = tmp_path / "keeper.json"
    src.write_text(json.dumps(file_2021(), indent=4), encoding="utf-8")
    loom_cli(tmp_path, "import", str(src), "--into", "keeper", "--quiet")
    first, again = export_import_export(tmp_path, "keeper")
    assert again == first
