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
