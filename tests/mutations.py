"""Hypothesis strategies that break valid documents the way real files and replies
break: parts replaced by random JSON, keys removed, list items duplicated. Shared by
the fuzz tests of the importers and of the OpenAI reply parser."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def paths(obj, here=()):
    """Every place in a JSON document, as the keys and indexes that lead there."""
    yield here
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, here + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, here + (i,))


@st.composite
def mutated(draw, doc, changes: int = 3, duplicate: bool = False):
    """`doc` with one to `changes` of its parts replaced by random JSON or removed (or, with
    `duplicate`, a list item repeated)."""
    doc = copy.deepcopy(doc)
    places = [p for p in paths(doc) if p]
    ways = ["replace", "delete"] + (["duplicate"] if duplicate else [])
    for _ in range(draw(st.integers(1, changes))):
        if not places:
            break
        path = draw(st.sampled_from(places))
        try:
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            how = draw(st.sampled_from(ways))
            if how == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif how == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    return doc
