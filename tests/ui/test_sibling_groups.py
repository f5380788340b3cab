"""Siblings grouped by meaning: the report's clustering puts similar children
together in the app's children list, biggest group first, with counts."""

import pytest

from loom.analysis.clusters import MAX_GROUPED, grouped_order
from loom.store import Session

WEDDING = [
    " and so they were married, and a great wedding feast was held.",
    " and a great wedding feast was held, and they were married.",
]
OTHER = [" the dog ran off into the dark woods and never came back.", " It rained for three days."]


def test_grouped_order_puts_paraphrases_and_duplicates_together_biggest_first():
    texts = [
        OTHER[0],
        WEDDING[0],
        OTHER[1],
        WEDDING[1],
        "  AND A GREAT WEDDING FEAST WAS HELD, and they were married. ",
    ]
    order = grouped_order(texts)
    assert [i for i, _, _ in order][:3] == [1, 3, 4]  # the wedding group of three first, in its own order
    assert {(c, n) for i, c, n in order if i in (1, 3, 4)} == {(0, 3)}
    assert sorted(i for i, _, _ in order) == list(range(5))
    assert grouped_order([]) == []
    with pytest.raises(ValueError, match="at most"):
        grouped_order(["x"] * (MAX_GROUPED + 1))


async def test_equals_groups_the_children_list_and_again_restores_it(tmp_path, demo_backend):
    from loom.ui.app import LoomApp
    from loom.ui.panels import ChildrenList

    s = Session(tmp_path / "s.loom")
    root = s.add_node(None, "Are bugs real?", "prompt")
    ids = [s.add_node(root.id, t, "human").id for t in (OTHER[0], WEDDING[0], OTHER[1], WEDDING[1])]
    s.current = root.id
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        children = app.query_one(ChildrenList)
        assert [r["id"] for r in children.rows] == ids
        await pilot.press("equals_sign")
        await pilot.pause()
        assert [r["id"] for r in children.rows] == [ids[1], ids[3], ids[0], ids[2]]
        assert "×2" in str(children.get_option_at_index(0).prompt)
        assert "×" not in str(children.get_option_at_index(1).prompt)
        await pilot.press("equals_sign")
        await pilot.pause()
        assert [r["id"] for r in children.rows] == ids
