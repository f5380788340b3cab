"""loom's own JSON: a lossless copy of a session or of a subtree.

Everything a session holds travels: nodes (text, author, model, params,
derived_from, time, completeness, meta), tokens with their alternatives,
tags, notes, analysis records and state. Importing an export into an empty
session keeps the node ids, so the session is the same; importing into a
session that has nodes (or under a node) gives the nodes new ids and maps
every reference."""

from __future__ import annotations

from typing import Any

from ..tree import Alternative, Node, Token
from . import Progress, TreeFormatError

FORMAT = "loom-session"
VERSION = 1


def token_to_json(t: Token) -> dict[str, Any]:
    return {"text": t.text, "logprob": t.logprob, "id": t.token_id, "raw": t.raw,
            "top": [[a.text, a.logprob, a.token_id] for a in t.alternatives]}


def token_from_json(d: dict[str, Any]) -> Token:
    return Token(text=d["text"], logprob=d["logprob"], token_id=d.get("id"), raw=d.get("raw", True),
                 alternatives=tuple(Alternative(a[0], a[1], a[2] if len(a) > 2 else None) for a in d.get("top", ())))


def node_to_json(n: Node) -> dict[str, Any]:
    return {
        "id": n.id, "parent": n.parent_id, "text": n.text, "author": n.author, "derived_from": n.derived_from,
        "model": n.model, "params": n.params, "created": n.created, "complete": n.complete, "meta": n.meta,
        "tokens": None if n.tokens is None else [token_to_json(t) for t in n.tokens],
    }


def export_data(session, node_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The whole session (node_id None) or the subtree under `node_id`, as JSON-ready data."""
    ids = session.all_ids() if node_id is None else session.subtree_ids(session.node(node_id).id)
    keep = set(ids)
    nodes = []
    for i, nid in enumerate(ids, 1):
        nodes.append(node_to_json(session.node(nid)))
        if progress and (i % 200 == 0 or i == len(ids)):
            progress(i, len(ids))
    records = [r for r in session.records() if node_id is None or r["node_id"] in keep]
    return {
        "format": FORMAT, "version": VERSION, "root": node_id,
        "nodes": nodes,
        "tags": [[n, t] for n, t in session.tag_pairs() if n in keep],
        "notes": [[n, t] for n, t in session.notes().items() if n in keep],
        "records": records,
        "state": session.state_items() if node_id is None else {},
    }


def _check(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TreeFormatError(f"not a loom export (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise TreeFormatError(f"loom export version {data.get('version')!r}; this loom reads version {VERSION}")
    if not isinstance(data.get("nodes"), list):
        raise TreeFormatError("a loom export needs a list of nodes")


def import_data(session, data: dict[str, Any], *, under: int | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Add the exported nodes to `session`; returns {nodes, roots, id_map, kept_ids}."""
    _check(data)
    if under is not None:
        session.node(under)  # a clear KeyError if the node is not there
    keep_ids = under is None and session.count() == 0
    rows = sorted(data["nodes"], key=lambda d: d["id"])  # loom ids grow, so parents and sources come first
    known = {d["id"] for d in rows}
    id_map: dict[int, int] = {}
    roots: list[int] = []
    for i, d in enumerate(rows, 1):
        try:
            parent = d["parent"]
            if parent in known:
                if parent not in id_map:
                    raise TreeFormatError(f"node {d['id']} comes before its parent {parent}")
                parent = id_map[parent]
            else:
                parent = under  # the top of an exported subtree
            src = d.get("derived_from")
            src = id_map.get(src)  # a source outside the import is dropped: its id means nothing here
            tokens = None if d.get("tokens") is None else [token_from_json(t) for t in d["tokens"]]
            node = session.add_node(
                parent, d["text"], d["author"], derived_from=src, model=d.get("model"), params=d.get("params"),
                tokens=tokens, complete=d.get("complete", True), meta=d.get("meta") or None,
                created=d.get("created"), node_id=d["id"] if keep_ids else None,
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise TreeFormatError(f"node {d.get('id', '?') if isinstance(d, dict) else '?'} is malformed ({exc!r})") from None
        except ValueError as exc:
            raise TreeFormatError(f"node {d.get('id')}: {exc}") from None
        id_map[d["id"]] = node.id
        if parent is None or parent == under:
            roots.append(node.id)
        if progress and (i % 200 == 0 or i == len(rows)):
            progress(i, len(rows))
    for nid, tag in data.get("tags", ()):
        if nid in id_map:
            session.add_tag(id_map[nid], tag)
    for nid, text in data.get("notes", ()):
        if nid in id_map:
            session.set_note(id_map[nid], text)
    for r in data.get("records", ()):
        session.add_record(r["kind"], id_map.get(r["node_id"]), r["params"], r["result"],
                           other_id=id_map.get(r["other_id"]), created=r.get("created"))
    if keep_ids:
        for key, value in data.get("state", {}).items():
            session.set_state(key, value)
    return {"nodes": len(id_map), "roots": roots, "id_map": id_map, "kept_ids": keep_ids}

