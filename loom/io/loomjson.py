"""loom's own JSON: a lossless copy of a session or of a subtree.

Everything a session holds travels: nodes (text, author, model, params,
derived_from, time, completeness, meta), tokens with their alternatives,
tags, notes, analysis records and state. Importing an export into an empty
session keeps the node ids, so the session is the same; importing into a
session that has nodes (or under a node) gives the nodes new ids and maps
every reference.

An import is all or nothing: the whole file is checked before anything is
written (every problem found is listed, one line each), and the nodes, tags,
notes, records and state are then written in one transaction. The rules:

- node ids are whole numbers, each used once;
- a node whose `parent` is null is a root;
- a node whose parent is in the file sits under it (in any order in the file;
  parents that loop back to their own children are refused as a cycle);
- a node whose parent is not in the file is refused, except the top of a
  subtree export: the node the file's `root` names (an export of the subtree
  under that node), which is put under `under`, or made a root;
- `derived_from` outside the file is dropped (its id means nothing here), and
  counted in the summary's `not_kept`.

Importing the same export again to the same place is refused: when every top
node of the file (roots, or the subtree's top) already sits there with the same
text, author and creation time, nothing is written. (An import into an empty
session keeps the file's ids and state, and so records nothing of its own.)"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeGuard

from ..tree import Alternative, GenerationParams, Node, Token
from . import Problems, Progress, TreeFormatError
from .jsonstream import Sink, dumps_at, iter_json
from .sessionlike import SessionLike
from .spool import Spool

FORMAT = "loom-session"
VERSION = 1


def token_to_json(t: Token) -> dict[str, Any]:
    return {
        "text": t.text,
        "logprob": t.logprob,
        "id": t.token_id,
        "raw": t.raw,
        "top": [list(r) for r in rows()]
        if (rows := getattr(t.alternatives, "rows", None))  # the store's lazy alternatives: no objects made
        else [[a.text, a.logprob, a.token_id] for a in t.alternatives],
    }


def token_from_json(d: dict[str, Any]) -> Token:
    return Token(
        text=d["text"],
        logprob=d["logprob"],
        token_id=d.get("id"),
        raw=d.get("raw", True),
        alternatives=tuple(Alternative(a[0], a[1], a[2] if len(a) > 2 else None) for a in d.get("top", ())),
    )


def node_to_json(n: Node) -> dict[str, Any]:
    return {
        "id": n.id,
        "parent": n.parent_id,
        "text": n.text,
        "author": n.author,
        "derived_from": n.derived_from,
        "model": n.model,
        "params": n.params,
        "created": n.created,
        "complete": n.complete,
        "meta": n.meta,
        "tokens": None if n.tokens is None else [token_to_json(t) for t in n.tokens],
    }


def export_data(session: SessionLike, node_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The whole session (node_id None) or the subtree under `node_id`, as JSON-ready data
    (all of it in memory: `write_export` streams the same text to a file)."""
    ids = session.all_ids() if node_id is None else session.subtree_ids(session.node(node_id).id)
    keep = set(ids)
    nodes = []
    for i, nid in enumerate(ids, 1):
        nodes.append(node_to_json(session.node(nid)))
        if progress and (i % 200 == 0 or i == len(ids)):
            progress(i, len(ids))
    records = [r for r in session.records() if node_id is None or r["node_id"] in keep]
    return {
        "format": FORMAT,
        "version": VERSION,
        "root": node_id,
        "nodes": nodes,
        "tags": [[n, t] for n, t in session.tag_pairs() if n in keep],
        "notes": [[n, t] for n, t in session.notes().items() if n in keep],
        "records": records,
        "state": session.state_items() if node_id is None else {},
    }


def write_export(session: SessionLike, sink: Sink, node_id: int | None = None, progress: Progress | None = None) -> int:
    """Write the text json.dump(export_data(...), indent=1) gives, one node at a time
    (memory does not grow with the session); returns the number of nodes."""
    ids = session.all_ids() if node_id is None else session.subtree_ids(session.node(node_id).id)
    keep = None if node_id is None else set(ids)
    ea = sink.ensure_ascii

    def field(name: str, value: Any, first: bool = False) -> None:
        sink.write(("\n " if first else ",\n ") + json_key(name) + ": " + dumps_at(value, 1, indent=1, ensure_ascii=ea))

    def big_list(name: str, items: Iterable[Any]) -> None:
        sink.write(",\n " + json_key(name) + ": ")
        empty = True
        for item in items:
            sink.write(("[\n  " if empty else ",\n  ") + dumps_at(item, 2, indent=1, ensure_ascii=ea))
            empty = False
        sink.write("[]" if empty else "\n ]")

    sink.write("{")
    field("format", FORMAT, first=True)
    field("version", VERSION)
    field("root", node_id)

    def nodes() -> Iterator[dict[str, Any]]:
        for i, nid in enumerate(ids, 1):
            yield node_to_json(session.node(nid))
            if progress and (i % 200 == 0 or i == len(ids)):
                progress(i, len(ids))

    big_list("nodes", nodes())
    big_list("tags", ([n, t] for n, t in session.tag_pairs() if keep is None or n in keep))
    big_list("notes", ([n, t] for n, t in session.notes().items() if keep is None or n in keep))
    big_list("records", (r for r in session.records() if keep is None or r["node_id"] in keep))
    sink.write(",\n " + json_key("state") + ": ")
    for chunk in iter_json(session.state_items() if node_id is None else {}, indent=1, ensure_ascii=ea, level=1):
        sink.write(chunk)
    sink.write("\n}")
    return len(ids)


def json_key(name: str) -> str:
    return '"' + name + '"'


def _check(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TreeFormatError(f'not a loom export (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise TreeFormatError(f"loom export version {data.get('version')!r}; this loom reads version {VERSION}")
    if not isinstance(data.get("nodes"), (list, Spool)):
        raise TreeFormatError("a loom export needs a list of nodes")


def _whole(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: a node's fields: (key, whether a value is right, what it must be)
_Field = tuple[str, Callable[[Any], bool], str]
_REQUIRED: tuple[_Field, ...] = (
    ("text", lambda v: isinstance(v, str), "a string"),
    ("author", lambda v: isinstance(v, str), "a string"),
    ("parent", lambda v: v is None or _whole(v), "a node id or null"),
)
_OPTIONAL: tuple[_Field, ...] = (
    ("derived_from", lambda v: v is None or _whole(v), "a node id or null"),
    ("model", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("params", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ("meta", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ("created", lambda v: v is None or _num(v), "a number or null"),
    ("complete", lambda v: isinstance(v, bool), "true or false"),
    ("tokens", lambda v: v is None or isinstance(v, list), "a list or null"),
)


def _node_problem(d: dict[str, Any]) -> str | None:
    """What is wrong with one node's fields (not its place in the tree), or None."""
    for key, ok, want in _REQUIRED:
        if key not in d:
            return f"no {key!r}"
        if not ok(d[key]):
            return f"{key} must be {want} (got {type(d[key]).__name__})"
    for key, ok, want in _OPTIONAL:
        if key in d and not ok(d[key]):
            return f"{key} must be {want} (got {type(d[key]).__name__})"
    if d.get("params"):
        try:
            _ = GenerationParams.from_dict(d["params"]).sampler  # building the sampler validates it
        except (TypeError, ValueError) as exc:
            return f"params are not generation parameters ({exc})"
    tokens = d.get("tokens")
    if tokens:
        for j, t in enumerate(tokens):
            if not isinstance(t, dict) or not isinstance(t.get("text"), str):
                return f"tokens[{j}] must be an object with a text"
            if not (t.get("logprob") is None or _num(t.get("logprob"))) or not (
                t.get("id") is None or _whole(t.get("id"))
            ):
                return f"tokens[{j}]: logprob must be a number or null, id a whole number or null"
            top = t.get("top", [])
            if not isinstance(top, list) or not all(
                isinstance(a, list)
                and 2 <= len(a) <= 3
                and isinstance(a[0], str)
                and _num(a[1])
                and (len(a) == 2 or a[2] is None or _whole(a[2]))
                for a in top
            ):
                return f"tokens[{j}]: top must be a list of [text, logprob, id]"
        if "".join(t["text"] for t in tokens) != d["text"]:
            return "its token texts do not add up to its text"
    return None


def _plan(data: dict[str, Any]) -> tuple[list[int], set[int], dict[int, int], Problems]:
    """Check the whole file before anything is written, one node at a time (the nodes may be a
    Spool: only ids and parents are held). Returns (the nodes' places in the file in the order
    to write them: every parent before its children, lower ids first; the ids of the tops
    (roots and the subtree's top); the tops' places; the problems found)."""
    problem = Problems()
    by_id: dict[int, int] = {}  # id -> place in the file
    parent_of: dict[int, Any] = {}
    seen: dict[int, int] = {}
    for i, d in enumerate(data["nodes"]):
        if not isinstance(d, dict):
            problem(f"nodes[{i}]: a node must be an object, not {type(d).__name__}")
            continue
        nid = d.get("id")
        if not _whole(nid):
            problem(f"nodes[{i}]: id must be a whole number (got {nid!r})")
            continue
        why = _node_problem(d)
        if why:
            problem(f"node {nid} is malformed: {why}")
        seen[nid] = seen.get(nid, 0) + 1
        if seen[nid] == 2:
            problem(f"node {nid}: the id is used by more than one node")
        if nid not in by_id:
            by_id[nid] = i
            parent_of[nid] = d.get("parent")
    top_id = data.get("root")
    if top_id is not None and (not _whole(top_id) or top_id not in by_id):
        problem(f"root {top_id!r}: the file's subtree top is not one of its nodes")
    kids: dict[int | None, list[int]] = {}
    tops: set[int] = set()
    for nid, parent in parent_of.items():
        if parent is None or nid == top_id:
            tops.add(nid)
        elif not _whole(parent):
            continue  # reported above
        elif parent not in by_id:
            problem(
                f"node {nid}: its parent {parent} is not in the file"
                + ("" if top_id is None else f" (only the subtree's top, node {top_id}, may have its parent outside)")
            )
        else:
            kids.setdefault(parent, []).append(nid)
    order: list[int] = []
    placed: set[int] = set()
    ready = sorted(tops)
    while ready:
        nid = heapq.heappop(ready)
        order.append(by_id[nid])
        placed.add(nid)
        for k in kids.get(nid, ()):
            heapq.heappush(ready, k)
    if len(order) < len(by_id) and not problem.count:  # some nodes hang from parents that never reach a root: cycles
        done: set[int] = set()
        for nid in sorted(by_id):
            if nid in placed or nid in done:
                continue
            path, at = [], nid
            while at not in done and at not in path and at in by_id and at not in placed:
                path.append(at)
                at = parent_of[at]
            if at in path:
                loop = path[path.index(at) :] + [at]
                problem(f"nodes {' -> '.join(map(str, loop))}: each is the parent of the one before, a cycle")
            done.update(path)
    return order, tops, {t: by_id[t] for t in tops}, problem


def _check_extras(data: dict[str, Any], problem: Problems) -> None:
    for name in ("tags", "notes"):
        items = data.get(name, [])
        if not isinstance(items, list):
            problem(f"{name} must be a list")
            continue
        for i, pair in enumerate(items):
            if not (isinstance(pair, list) and len(pair) == 2 and _whole(pair[0]) and isinstance(pair[1], str)):
                problem(f"{name}[{i}] must be [node id, text] (got {pair!r:.60})")
    records = data.get("records", [])
    if not isinstance(records, list):
        problem("records must be a list")
    else:
        for i, r in enumerate(records):
            if not (
                isinstance(r, dict)
                and isinstance(r.get("kind"), str)
                and "params" in r
                and "result" in r
                and (r.get("node_id") is None or _whole(r.get("node_id")))
                and (r.get("other_id") is None or _whole(r.get("other_id")))
                and (r.get("created") is None or _num(r.get("created")))
            ):
                problem(f"records[{i}] must be an object with kind, node_id, params and result")
    if not isinstance(data.get("state", {}), dict):
        problem("state must be an object")


def import_data(
    session: SessionLike,
    data: dict[str, Any],
    *,
    under: int | None = None,
    progress: Progress | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Add the exported nodes to `session`, all of them or (on any problem) none;
    returns {nodes, roots, id_map, kept_ids, not_kept}."""
    _check(data)
    if under is not None:
        session.node(under)  # a clear KeyError if the node is not there
    order, tops, by_id, problems = _plan(data)
    _check_extras(data, problems)
    if problems.count:
        raise problems.error(len(data["nodes"]))
    keep_ids = under is None and session.count() == 0
    nodes = data["nodes"]
    if not keep_ids:
        _refuse_again(session, [nodes[by_id[t]] for t in sorted(tops)], under)
    id_map: dict[int, int] = {}
    roots: list[int] = []
    not_kept = {"derived_from": 0, "tags": 0, "notes": 0}
    total = len(order)
    with session.bulk():
        for i, at in enumerate(order, 1):
            d = nodes[at]
            parent = under if d["id"] in tops else id_map[d["parent"]]
            src = d.get("derived_from")
            if src is not None and src not in id_map:
                not_kept["derived_from"] += 1  # a source outside the import: its id means nothing here
            tokens = None if d.get("tokens") is None else [token_from_json(t) for t in d["tokens"]]
            node = session.add_node(
                parent,
                d["text"],
                d["author"],
                derived_from=None if src is None else id_map.get(src),
                model=d.get("model"),
                params=d.get("params"),
                tokens=tokens,
                complete=d.get("complete", True),
                meta=d.get("meta") or None,
                created=d.get("created"),
                node_id=d["id"] if keep_ids else None,
            )
            id_map[d["id"]] = node.id
            if d["id"] in tops:
                roots.append(node.id)
            if progress and (i % 1000 == 0 or i == total):
                progress(i, total)
        for name, add in (("tags", session.add_tag), ("notes", session.set_note)):
            for nid, text in data.get(name, ()):
                if nid in id_map:
                    add(id_map[nid], text)
                else:
                    not_kept[name] += 1
        for r in data.get("records", ()):
            session.add_record(
                r["kind"],
                id_map.get(r.get("node_id")),
                r["params"],
                r["result"],
                other_id=id_map.get(r.get("other_id")),
                created=r.get("created"),
            )
        if keep_ids:
            for key, value in data.get("state", {}).items():
                session.set_state(key, value)
    return {
        "nodes": len(id_map),
        "roots": roots,
        "id_map": id_map,
        "kept_ids": keep_ids,
        "not_kept": {k: v for k, v in not_kept.items() if v},
    }


def _refuse_again(session: SessionLike, tops: list[dict[str, Any]], under: int | None) -> None:
    """Refuse an import whose every top node already sits at this place (the same export, imported before)."""
    here = {(n.text, n.author, n.created): n.id for n in session.children(under)}
    found = [(here.get((d["text"], d["author"], d["created"])), d["id"]) for d in tops if d.get("created") is not None]
    if tops and len(found) == len(tops) and all(mine is not None for mine, _ in found):
        mine, theirs = found[0]
        where = f"under node {under}" if under is not None else "as a root"
        raise TreeFormatError(
            f"already imported: node {mine} {where} has the same text, author and creation time as the file's "
            f"node {theirs}"
            + (f" (and so have the other {len(found) - 1} top nodes)" if len(found) > 1 else "")
            + "; nothing was imported again"
        )
