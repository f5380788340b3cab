"""What the app tests share: sessions shaped for the tree panel."""

import pytest


@pytest.fixture
def wide_level(session):
    """A root with 100 human children, the 71st current: wider than the tree
    panel's window. Returns (root id, children's ids)."""
    root = session.add_node(None, "root", "prompt").id
    kids = [session.add_node(root, f"child {i}", "human").id for i in range(100)]
    session.current = kids[70]
    return root, kids
