"""A tree file read in one pass, its big parts put in spools (loom.io.spool).

What is big in a file loom imports: loom JSON's `nodes` (a list), the
original loom's tree (`root`, nesting through `children`; or a bare node, or
a list of nodes) and its `model_responses`. Each node or response is read as
it comes and spooled; everything else at the top of the file is kept as it is.
The result is the file's top-level object with those parts replaced by
spools, which the importers read like the lists and dicts they stand for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from .jsonreader import Reader
from .spool import KeyedSpool, Spool


class Tree:
    """The original loom's tree of nodes, on disk, in the order a walk from the root meets them.
    Each record: (the node's fields without its children, depth, its index among its parent's
    children, how many children it has, whether `children` was something other than a list)."""

    def __init__(self) -> None:
        self.nodes = Spool()
        self.kids = 0  # for a bare node's children: how many (the root's record is put when it is known)

    def walk(self) -> Iterator[tuple[Any, tuple | None, int, int, bool]]:
        """(node, place, depth, children, bad children) for every node, the root first; `place`
        is (the parent's place, index), as `walk` gives for a tree in memory."""
        places: list[tuple | None] = []
        for node, depth, index, kids, bad in self.nodes:
            del places[depth:]
            place = None if depth == 0 else (places[depth - 1], index)
            places.append(place)
            yield node, place, depth, kids, bad

    @property
    def root(self) -> Any:
        return self.nodes[0][0]

    def close(self) -> None:
        self.nodes.close()


def walk(root: Any) -> Iterator[tuple[Any, tuple | None, int, int, bool]]:
    """Tree.walk for a tree in memory (nested dicts), or for a Tree."""
    if isinstance(root, Tree):
        yield from root.walk()
        return
    stack: list[tuple[Any, tuple | None, int]] = [(root, None, 0)]
    while stack:
        node, place, depth = stack.pop()
        if not isinstance(node, dict):
            yield node, place, depth, 0, False
            continue
        kids = node.get("children") or []
        if not isinstance(kids, list):
            yield node, place, depth, 0, True
            continue
        yield node, place, depth, len(kids), False
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], (place, i), depth + 1))


class Unusual(Exception):
    """A file of a shape the one-pass reading does not cover (a node that gives `children` twice):
    the caller reads it whole instead."""


def _node(r: Reader, tree: Tree, depth: int, index: int | None) -> None:
    """Spool the node at the reader (at `depth`), and every node under it, without recursion."""
    # a frame: [place in the spool, fields, depth, index, children, bad children, had children, members, items]
    stack: list[list] = []

    def start(d: int, i: int | None) -> None:
        if r.peek() == "{":
            stack.append([tree.nodes.reserve(), {}, d, i, 0, False, False, r.members(), None])
        else:  # not a node: spooled as it is, for the check to refuse
            tree.nodes.put(tree.nodes.reserve(), (r.value(), d, i, 0, False))

    start(depth, index)
    while stack:
        f = stack[-1]
        if f[8] is not None:
            i = next(f[8], None)
            if i is None:
                f[8] = None
            else:
                f[4] += 1
                start(f[2] + 1, i)
            continue
        key = next(f[7], None)
        if key is None:
            stack.pop()
            tree.nodes.put(f[0], (f[1], f[2], f[3], f[4], f[5]))
        elif key != "children":
            f[1][key] = r.value()
        elif f[6]:
            raise Unusual()
        else:
            f[6] = True
            if r.peek() == "[":
                f[8] = r.items()
            else:  # null, {}, 0 and "" are no children, as the original reads them; anything else is refused
                f[5] = bool(r.value())


def _children(r: Reader, tree: Tree) -> int:
    """Spool a list of nodes, the children of a root the caller puts in place 0; returns how many."""
    n = 0
    for i in r.items():
        _node(r, tree, 1, i)
        n += 1
    return n


def read(fh: IO[str]) -> Any:
    """The file's value, with its big parts spooled (see the module's doc). Raises
    jsonreader.Broken for a file that is not JSON, and Unusual for one to read whole."""
    r = Reader(fh)
    c = r.peek()
    if c == "[":  # a list of nodes: the original puts them under an empty root
        tree = Tree()
        tree.nodes.reserve()
        kids = _children(r, tree)
        tree.nodes.put(0, ({"text": "", "mutable": False, "visited": True}, 0, None, kids, False))
        r.end()
        return ListTree(tree)
    if c != "{":
        value = r.value()
        r.end()
        return value
    top: dict[str, Any] = {}
    for key in r.members():
        c = r.peek()
        if key == "nodes" and c == "[":
            nodes = top[key] = Spool()
            for _ in r.items():
                nodes.add(r.value())
        elif key == "root" and c == "{":
            tree = top[key] = Tree()
            _node(r, tree, 0, None)
        elif key == "model_responses" and c == "{":
            responses = top[key] = KeyedSpool()
            for gid in r.members():
                responses.put(gid, r.value())
        elif key == "children" and c == "[":  # a bare node's children: it is the root
            tree = top[key] = Tree()
            tree.nodes.reserve()
            tree.kids = _children(r, tree)
        else:
            top[key] = r.value()
    r.end()
    return top


class ListTree:
    """A file that is a list of nodes, read into a Tree (its root made up, as the original does)."""

    def __init__(self, tree: Tree):
        self.tree = tree
