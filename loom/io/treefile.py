"""A tree file read in one pass, its big parts put in spools (loom.io.spool).

What is big in a file loom imports: loom JSON's `nodes` (a list), the
original loom's tree (`root`, nesting through `children`; or a bare node, or
a list of nodes) and its `model_responses`. Each node or response is read as
it comes and spooled; everything else at the top of the file is kept as it is.
The result is the file's top-level object with those parts replaced by
spools, which the importers read like the lists and dicts they stand for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .jsonreader import Reader
from .spool import KeyedSpool, Spool, Summary

#: where a node is in the file: (where its parent is, or None for the root's; its index among the children)
Place = tuple["Place | None", int]
#: what `walk` gives for each node: (node, place, depth, how many children, whether `children` was not a list)
Step = tuple[Any, Place | None, int, int, bool]


class Tree:
    """The original loom's tree of nodes, on disk, in the order a walk from the root meets them.
    Each record: (the node's fields without its children, depth, its index among its parent's
    children, how many children it has, whether `children` was something other than a list)."""

    def __init__(self) -> None:
        self.nodes = Spool()
        self.kids = 0  # for a bare node's children: how many (the root's record is put when it is known)

    def walk(self) -> Iterator[Step]:
        """(node, place, depth, children, bad children) for every node, the root first; `place`
        is (the parent's place, index), as `walk` gives for a tree in memory."""
        places: list[Place | None] = []
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


def walk(root: Any) -> Iterator[Step]:
    """Tree.walk for a tree in memory (nested dicts), or for a Tree."""
    if isinstance(root, Tree):
        yield from root.walk()
        return
    stack: list[tuple[Any, Place | None, int]] = [(root, None, 0)]
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


@dataclass(slots=True)
class _Frame:
    """A node `_node` is reading: its place in the spool, its depth and index among its parent's
    children, its fields so far, whether its members are being read (past its '{'), how many
    children so far, whether `children` was something other than a list, whether `children` came
    yet, and the walk of its children while in them."""

    at: int
    depth: int
    index: int | None
    fields: dict[str, Any]
    started: bool = False
    kids: int = 0
    bad: bool = False
    had_children: bool = False
    items: Iterator[int] | None = None


def _node(r: Reader, tree: Tree, depth: int, index: int | None) -> None:
    """Spool the node at the reader (at `depth`), and every node under it, without recursion."""
    stack: list[_Frame] = []

    def start(d: int, i: int | None) -> None:
        if r.peek() == "{":
            stack.append(_Frame(tree.nodes.reserve(), d, i, {}))
        else:  # not a node: spooled as it is, for the check to refuse
            tree.nodes.put(tree.nodes.reserve(), (r.value(), d, i, 0, False))

    start(depth, index)
    while stack:
        f = stack[-1]
        if f.items is not None:
            i = next(f.items, None)
            if i is not None:
                f.kids += 1
                start(f.depth + 1, i)
                continue
            f.items = None
        # its members up to `children` (or its end) in one call: most nodes have a few short ones
        if r.fields(f.fields, "children", f.started):
            f.started = True
            if f.had_children:
                raise Unusual()
            f.had_children = True
            if r.peek() == "[":
                f.items = r.items()
            else:  # null, {}, 0 and "" are no children, as the original reads them; anything else is refused
                f.bad = bool(r.value())
            continue
        stack.pop()
        tree.nodes.put(f.at, (f.fields, f.depth, f.index, f.kids, f.bad))


def _children(r: Reader, tree: Tree) -> int:
    """Spool a list of nodes, the children of a root the caller puts in place 0; returns how many."""
    n = 0
    for i in r.items():
        _node(r, tree, 1, i)
        n += 1
    return n


def read(fh: IO[str], summarize: Summary | None = None) -> Any:
    """The file's value, with its big parts spooled (see the module's doc). Raises
    jsonreader.Broken for a file that is not JSON, and Unusual for one to read whole.
    `summarize`: what to keep of each model response as it is read (KeyedSpool's)."""
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
            responses = top[key] = KeyedSpool(summarize)
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
