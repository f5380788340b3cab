"""loom.io.spool: a Spool is read as the list it stands for, and a KeyedSpool as the dict."""

import pytest

from loom.io.spool import KeyedSpool, Spool

VALUES = [{"a": 1, "b": [float("nan"), "\ud800"]}, [2, None], "three"]


def test_spool_indexes_as_a_list_does() -> None:
    spool = Spool()
    for v in VALUES:
        spool.add(v)
    assert len(spool) == len(VALUES)
    assert repr(list(spool)) == repr(VALUES)
    for i in range(-len(VALUES), len(VALUES)):
        assert repr(spool[i]) == repr(VALUES[i])
    assert repr(spool[1:]) == repr(VALUES[1:])
    assert repr(spool[::-1]) == repr(VALUES[::-1])
    # out of range either way: an IndexError, as a list gives (a negative index past the start
    # once counted back from the end again and gave a value)
    for i in (len(VALUES), len(VALUES) + 5, -len(VALUES) - 1, -2 * len(VALUES)):
        with pytest.raises(IndexError):
            spool[i]
    spool.close()


def test_spool_reserve_then_put() -> None:
    spool = Spool()
    first = spool.reserve()
    spool.add("second")
    spool.put(first, "first")
    assert list(spool) == ["first", "second"]
    spool.close()


def test_keyed_spool_keeps_the_place_and_takes_the_last_value() -> None:
    spool = KeyedSpool()
    spool.put("x", 1)
    spool.put("y", 2)
    assert spool["x"] == 1  # now among the recent values
    spool.put("x", 3)  # as json.loads does with a repeated key
    assert dict(spool) == {"x": 3, "y": 2}
    assert list(spool) == ["x", "y"]
    assert "y" in spool and "z" not in spool
    assert spool.get("z") is None
    with pytest.raises(KeyError):
        spool["z"]
    spool.close()


def test_spool_reads_between_writes() -> None:
    """Values read while more are still being put (the reads must see every write before them)."""
    spool = Spool()
    held = spool.reserve()
    for i in range(300):
        spool.add({"i": i, "pad": "x" * (i * 37 % 5000)})
        assert spool[-1]["i"] == i
        assert spool[i // 2 + 1]["i"] == i // 2
    with pytest.raises(IndexError):
        spool[held]  # reserved, never put
    spool.put(held, "held")
    assert spool[0] == "held" and spool[300]["i"] == 299
    spool.close()


@pytest.mark.parametrize(("chunk", "margin"), [(1, 0), (7, 0), (64, 16), (1 << 20, 1 << 16)])
def test_a_file_read_in_pieces_of_any_size_is_the_file(tmp_path, monkeypatch, chunk, margin):
    """Pieces that end anywhere (inside a key, a string, a number, an escape, a deep value) give
    the values json.loads gives: the original format's tree and responses, loom JSON's nodes."""
    import json

    from socketteer_files import PEERS_DEMO

    from loom.io import read_json
    from loom.io.jsonreader import Reader
    from loom.io.socketteer import fingerprint, normalise
    from loom.io.treefile import read

    monkeypatch.setattr(Reader, "CHUNK", chunk)
    monkeypatch.setattr(Reader, "MARGIN", margin)
    odd = {
        "root": {
            "id": "é\ud800",
            "text": 'x\n"\\',
            "n": [12345678901234567890, -0.5e-7, float("nan")],
            "deep": [[[[[[[[{"a": None}]]]]]]]],
            "children": [{"text": "y", "children": []}],
        },
        "model_responses": {"r1": {"completions": [{"text": "z", "tokens": None}]}, "r1 ": [1.25, True]},
    }
    nodes = {"nodes": [{"id": 1, "text": "a"}, {"id": 2, "text": "b\u2028", "x": [0.1] * 50}]}
    files = [PEERS_DEMO, tmp_path / "odd.json", tmp_path / "nodes.json"]
    files[1].write_text(json.dumps(odd), encoding="utf-8")
    files[2].write_text(json.dumps(nodes, indent=3), encoding="utf-8")
    for path in files:
        whole = read_json(path)
        with open(path, encoding="utf-8", newline="") as fh:
            pieces = read(fh)
        if "nodes" in whole:
            assert repr(list(pieces["nodes"])) == repr(whole["nodes"])
            continue
        assert fingerprint(*normalise(pieces)) == fingerprint(*normalise(whole))
        responses = pieces.get("model_responses")
        if responses is not None:
            assert repr(dict(responses)) == repr(whole["model_responses"])
