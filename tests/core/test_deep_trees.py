"""No recursion on tree depth in import or export: a tree 100,000 levels deep is
exported in the original loom's format and imported back, and loom JSON too.
(Python's json module recurses: it cannot read or write such a file itself.)"""

import json

import pytest

from loom.cli import main
from loom.io import export_text, import_file, read_json
from loom.io.jsonstream import iter_json, loads_deep
from loom.io.socketteer import fingerprint, normalise
from loom.store import Session
from loom.tree import Alternative, Token

DEEP = 100_000


def chain(session: Session, depth: int) -> list[int]:
    """A path `depth` nodes long, in one transaction; every tenth node has tokens."""
    ids = []
    parent = None
    with session.bulk():
        for i in range(depth):
            if i % 10 == 5:
                toks = [Token(f" w{i % 7}", -0.5, None, (Alternative(f" w{i % 7}", -0.5), Alternative(" x", -1.5)))]
                parent = session.add_node(parent, toks[0].text, "model", model="m", tokens=toks).id
            else:
                parent = session.add_node(parent, f" {i}", "prompt" if parent is None else "human").id
            ids.append(parent)
    return ids


def nested_file(depth: int) -> str:
    """The original loom's JSON for a path `depth` nodes deep, written without json.dumps."""
    return (
        '{"root": '
        + "".join(f'{{"id": "n{i}", "text": " {i}", "children": [' for i in range(depth))
        + "]}" * depth
        + "}"
    )


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deep")
    s = Session(folder / "deep.loom")
    ids = chain(s, DEEP)
    s.add_tag(ids[-1], "bottom")
    yield s, ids, folder
    s.close()


def texts(s: Session) -> list[str]:
    return [r[0] for r in s.db.conn.execute("SELECT text FROM nodes ORDER BY id")]


def test_stdlib_json_cannot_and_loom_can(tmp_path):
    text = nested_file(1000)
    with pytest.raises(RecursionError):
        json.loads(text)
    data = loads_deep(text)
    assert "".join(iter_json(data)) == text


def test_a_600_level_file_from_the_original_loom_imports(tmp_path, capsys):
    src = tmp_path / "deep600.json"
    src.write_text(nested_file(600))
    assert main(["--sessions-dir", str(tmp_path), "import", str(src), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"] == 600 and summary["max_depth"] == 599
    with Session(tmp_path / "deep600.loom") as s:
        leaf = s.all_ids()[-1]
        assert len(s.ancestry(leaf)) == 600
        text, n = export_text(s, "socketteer")
        assert n == 600
        back = read_json_text(tmp_path / "back.json", text)
        node, depth = back["root"], 0
        while node["children"]:
            node, depth = node["children"][0], depth + 1
        assert depth == 599 and node["id"] == "n599"


def read_json_text(path, text):
    path.write_text(text, encoding="utf-8")
    return read_json(path)


def test_100k_levels_round_trip_through_the_original_format(deep):
    s, ids, folder = deep
    out = folder / "deep.json"
    with out.open("w", encoding="utf-8") as fh:
        from loom.io import export_to

        assert export_to(s, "socketteer", fh) == DEEP
    with Session(folder / "back.loom") as back:
        summary = import_file(back, out)
        assert summary["nodes"] == DEEP and summary["max_depth"] == DEEP - 1
        assert texts(back) == texts(s)
        bottom = back.all_ids()[-1]
        assert back.tags(bottom) == ["bottom"]
        assert len(back.ancestry(bottom)) == DEEP
        tokens = back.node(back.all_ids()[5]).tokens
        assert [a.text for a in tokens[0].alternatives] == [" w5", " x"]
        # and out again: the same tree, the same content (the top-level keys come back in another order:
        # dict == would recurse, so compare the content fingerprints)
        again = folder / "again.json"
        with again.open("w", encoding="utf-8") as fh:
            export_to(back, "socketteer", fh)
        assert fingerprint(*normalise(read_json(again))) == fingerprint(*normalise(read_json(out)))


def test_100k_levels_round_trip_through_loom_json(deep):
    s, ids, folder = deep
    out = folder / "deep.loom.json"
    with out.open("w", encoding="utf-8") as fh:
        from loom.io import export_to

        export_to(s, "loom-json", fh)
    with Session(folder / "copy.loom") as copy:
        assert import_file(copy, out)["nodes"] == DEEP
        assert texts(copy) == texts(s) and copy.parent_id(ids[-1]) == ids[-2]


def test_a_deep_subtree_exports(deep):
    s, ids, _ = deep
    from loom.io.socketteer import export_data

    text, n = export_text(s, "socketteer", ids[-150])  # 150 levels: indented as json.dump(indent=1) does
    assert n == 150 and text == json.dumps(export_data(s, ids[-150]), ensure_ascii=False, indent=1) + "\n"
    text, n = export_text(s, "socketteer", ids[-300])  # past 200 levels: on one line, as json.dump does unindented
    assert n == 300 and text == json.dumps(export_data(s, ids[-300]), ensure_ascii=False) + "\n"
    text, n = export_text(s, "jsonl", ids[DEEP // 2])
    assert n == len(text.splitlines()) == (DEEP // 2) // 10


# -- the writer and reader give json's own text and values ------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loom.io.jsonstream import dumps_at  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.text(max_size=3) | st.integers() | st.booleans() | st.floats(allow_nan=False) | st.none(),
            kids,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from([None, 1, 2]), st.booleans(), st.booleans(), st.integers(0, 3))
def test_writer_and_reader_match_the_json_module(value, indent, ensure_ascii, sort_keys, level):
    try:
        expected = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    except TypeError:  # keys json cannot sort (None beside a text): json refuses them too
        with pytest.raises(TypeError):
            "".join(iter_json(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys))
        return
    assert "".join(iter_json(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)) == expected
    if not sort_keys:
        shifted = expected.replace("\n", "\n" + " " * ((indent or 0) * level)) if indent else expected
        assert dumps_at(value, level, indent=indent, ensure_ascii=ensure_ascii) == shifted
    assert json.dumps(loads_deep(expected)) == json.dumps(json.loads(expected))
