"""The original loom's JSON (socketteer/loom, tkinter): import and export.

A file is an object with `root` (nodes nest through `children`) plus
chapters, tags, model_responses and settings; the original also opens a bare
root node or a list of children. On import each node's own fields (its id,
meta, generation link, chapter, view state) are kept in the loom node's
`meta["socketteer"]`, its tags become loom tags, chapters become
`chapter:<title>` tags, and the file's top-level settings are kept in the
session state `socketteer`, so an export gives the same file back. Token
logprobs and counterfactuals in `model_responses` become loom Tokens
(token_id None: that loom records no token ids).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any

from ..tree import Alternative, Node, Token
from . import Progress, TreeFormatError

STATE_KEY = "socketteer"
META_KEY = "socketteer"
_OWN = ("text", "children", "parent_id")  # rebuilt from the loom tree on export
_TIME_FMT = "%Y-%m-%d-%H.%M.%S"
_SOURCE_TO_AUTHOR = {"AI": "model", "mixed": "edit"}
_AUTHOR_TO_SOURCE = {"model": "AI", "edit": "mixed", "human": "prompt", "prompt": "prompt"}
_TAG_DEFAULT = {"scope": "node", "hide": False, "show_only": False, "toggle_key": "None", "icon": "None"}


def normalise(data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(root node, top-level object) for the three shapes the original loom opens."""
    if isinstance(data, dict) and "root" in data:
        root, top = data["root"], data
    elif isinstance(data, dict) and "text" in data:
        root, top = data, {}
    elif isinstance(data, list):
        root, top = {"text": "", "children": data, "mutable": False, "visited": True}, {}
    else:
        raise TreeFormatError("expected an object with 'root', a node with 'text', or a list of nodes")
    if not isinstance(root, dict):
        raise TreeFormatError("'root' must be a node object")
    return root, top


def _count(root: dict) -> int:
    n, stack = 0, [root]
    while stack:
        node = stack.pop()
        n += 1
        kids = node.get("children") or [] if isinstance(node, dict) else []
        stack.extend(kids if isinstance(kids, list) else [])
    return n


def _created(meta: Any) -> float | None:
    stamp = meta.get("creation_timestamp") if isinstance(meta, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return _dt.datetime.strptime(stamp, _TIME_FMT).replace(tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return None


def _tokens(node: dict, responses: dict) -> tuple[list[Token] | None, str | None, dict | None, str | None]:
    """(tokens fitted to the node text, model, response info, why tokens were dropped)."""
    gen = node.get("generation")
    if not isinstance(gen, dict) or gen.get("id") not in responses:
        return None, None, None, None
    resp = responses[gen["id"]]
    try:
        comp = resp["completions"][gen.get("index", 0)]
    except (KeyError, IndexError, TypeError):
        return None, None, None, f"response {gen['id']} has no completion {gen.get('index')}"
    info = {k: resp[k] for k in ("id", "model", "timestamp") if k in resp}
    if isinstance(comp, dict) and "finishReason" in comp:
        info["finishReason"] = comp["finishReason"]
    raw = comp.get("tokens") if isinstance(comp, dict) else None
    if not raw:
        return None, resp.get("model"), info, None
    tokens = []
    for td in raw:
        g = td.get("generatedToken") or {}
        cf = td.get("counterfactuals") or {}
        if isinstance(cf, list):  # an older shape: a list of {token: logprob}
            cf = {k: v for d in cf if isinstance(d, dict) for k, v in d.items()}
        alts = sorted(((str(k), float(v)) for k, v in cf.items() if isinstance(v, (int, float))), key=lambda a: -a[1])
        lp = g.get("logprob")
        tokens.append(Token(text=str(g.get("token", "")), logprob=None if lp is None else float(lp),
                            alternatives=tuple(Alternative(t, p) for t, p in alts)))
    joined = "".join(t.text for t in tokens)
    text = node["text"]
    # The original prepends its "start" text to a completion and lets users edit nodes:
    # text around the tokens becomes a token without a probability; an edited middle drops them.
    if text.startswith(joined) or (joined and text.endswith(joined)):
        head, tail = ("", text[len(joined):]) if text.startswith(joined) else (text[: len(text) - len(joined)], "")
        return ([Token(head, None)] if head else []) + tokens + ([Token(tail, None)] if tail else []), resp.get("model"), info, None
    info["completion"] = comp  # kept as it was, so an export gives the original response back
    return None, resp.get("model"), info, "the node text no longer matches its tokens (edited)"


def import_data(session, data: Any, *, under: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    root, top = normalise(data)
    if under is not None:
        session.node(under)
    fresh = under is None and session.count() == 0
    responses = top.get("model_responses") or {}
    chapters = {c["id"]: c for c in (top.get("chapters") or {}).values() if isinstance(c, dict) and "id" in c}
    chapter_roots = {c.get("root_id"): c for c in chapters.values()}
    canonical = set(top.get("canonical") or [])
    total = _count(root)
    by_sid: dict[str, int] = {}
    stats = {"nodes": 0, "tokens": 0, "nodes_with_tokens": 0, "tokens_dropped": 0, "tags": 0, "max_depth": 0}
    notes: list[str] = []
    first: int | None = None
    stack: list[tuple[Any, int | None, int, str]] = [(root, under, 0, "root")]
    while stack:
        node, parent, depth, where = stack.pop()
        if not isinstance(node, dict):
            raise TreeFormatError(f"{where}: a node must be an object, not {type(node).__name__}")
        text = node.get("text", "")
        if not isinstance(text, str):
            raise TreeFormatError(f"{where} (id {node.get('id')}): text must be a string")
        kids = node.get("children") or []
        if not isinstance(kids, list):
            raise TreeFormatError(f"{where} (id {node.get('id')}): children must be a list")
        extra = {k: v for k, v in node.items() if k not in _OWN}
        meta_in = node.get("meta") if isinstance(node.get("meta"), dict) else {}
        back = meta_in.get("loom") if isinstance(meta_in.get("loom"), dict) else {}  # written by our export
        tokens, model, info, dropped = _tokens(node, responses)
        if info:
            extra["response"] = info
        if dropped:
            stats["tokens_dropped"] += 1
            if len(notes) < 5:
                notes.append(f"node {node.get('id')}: {dropped}; kept the text without token data")
        author = back.get("author") or (
            "prompt" if parent is None else _SOURCE_TO_AUTHOR.get(meta_in.get("source"), "model" if tokens else "human"))
        meta = {**(back.get("meta") or {}), META_KEY: extra}
        created = back.get("created") or _created(meta_in)
        new = session.add_node(parent, text, author, model=back.get("model") or model, params=back.get("params"),
                               tokens=tokens, complete=back.get("complete", True), meta=meta, created=created)
        first = new.id if first is None else first
        sid = node.get("id")
        if isinstance(sid, str):
            by_sid[sid] = new.id
        tags = [t for t in node.get("tags") or [] if isinstance(t, str)]
        tags += [t for t in ("bookmark", "canonical", "archived") if node.get(t) is True]  # older files: attributes
        if sid in canonical:
            tags.append("canonical")
        for c in (chapters.get(node.get("chapter_id")), chapter_roots.get(sid)):
            if c and c.get("title"):
                tags.append(f"chapter:{c['title']}")
        for t in dict.fromkeys(tags):
            session.add_tag(new.id, t)
            stats["tags"] += 1
        stats["nodes"] += 1
        stats["max_depth"] = max(stats["max_depth"], depth)
        if tokens:
            stats["nodes_with_tokens"] += 1
            stats["tokens"] += len(tokens)
        if progress and (stats["nodes"] % 200 == 0 or stats["nodes"] == total):
            progress(stats["nodes"], total)
        for i in range(len(kids) - 1, -1, -1):  # reversed so children get ids in file order
            stack.append((kids[i], new.id, depth + 1, f"{where}.children[{i}]"))
    kept = {k: v for k, v in top.items() if k not in ("root", "model_responses")}
    if fresh:
        session.set_state(STATE_KEY, kept)
        sel = by_sid.get(top.get("selected_node_id"))
        session.current = sel if sel is not None else first
    else:  # merging: keep chapters and tag definitions so an export still knows them
        state = session.get_state(STATE_KEY) or {}
        for key in ("chapters", "tags"):
            if isinstance(kept.get(key), dict):
                state[key] = {**kept[key], **(state.get(key) or {})}
        session.set_state(STATE_KEY, state)
    return {**stats, "root": first, "notes": notes}


# -- export --------------------------------------------------------------------
def _sid(session, node: Node) -> str:
    """The node's id in the original loom: kept from an import, else a stable uuid."""
    own = (node.meta.get(META_KEY) or {}).get("id")
    if isinstance(own, str):
        return own
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"loom:{session.name}:{node.id}:{node.created!r}"))


def _node_out(session, node: Node, sid: str, parent_sid: str | None, responses: dict) -> dict[str, Any]:
    extra = dict(node.meta.get(META_KEY) or {})
    info = extra.pop("response", None)
    out: dict[str, Any] = {"id": sid}
    out.update(extra)
    out["text"] = node.text
    if parent_sid is not None:
        out["parent_id"] = parent_sid
    tags = [t for t in session.tags(node.id) if not t.startswith("chapter:")]
    before = extra.get("tags")
    if isinstance(before, list) and set(before) == set(tags):
        out["tags"] = before
    elif tags or "tags" in out:
        out["tags"] = tags
    native = {k: v for k, v in node.meta.items() if k != META_KEY}
    if not extra:  # a node made in this loom: write what the original loom reads, and what we need back
        out["meta"] = {"source": _AUTHOR_TO_SOURCE.get(node.author, "prompt"), "modified": node.author == "edit",
                       "creation_timestamp": _dt.datetime.fromtimestamp(node.created, _dt.timezone.utc).strftime(_TIME_FMT)}
        out["visited"] = True
        out["mutable"] = True
    if not extra or native or "loom" in (extra.get("meta") or {}):
        loom = {"author": node.author, "model": node.model, "params": node.params, "complete": node.complete,
                "created": node.created, "meta": native}
        out["meta"] = {**(out.get("meta") or {}), "loom": loom}
    kept = (info or {}).get("completion")
    if node.tokens or kept:
        gen = extra.get("generation") if isinstance(extra.get("generation"), dict) else {"id": f"loom-{sid}", "index": 0}
        info = info or {}
        resp = responses.setdefault(gen["id"], {
            "completions": [], "prompt": {"text": "", "tokens": None}, "id": gen["id"],
            "model": info.get("model", node.model or ""), **({"timestamp": info["timestamp"]} if "timestamp" in info else {}),
        })
        comps = resp["completions"]
        comps.extend([None] * (gen.get("index", 0) + 1 - len(comps)))
        out["generation"] = gen
    if kept and not node.tokens:
        comps[gen.get("index", 0)] = kept
    elif node.tokens:
        pos = 0
        toks = []
        for t in node.tokens:
            toks.append({"generatedToken": {"token": t.text, "logprob": t.logprob},
                         "position": {"start": pos, "end": pos + len(t.text)},
                         "counterfactuals": _counterfactuals(t)})
            pos += len(t.text)
        comps[gen.get("index", 0)] = {"text": node.text, "tokens": toks,
                                      "finishReason": info.get("finishReason", "length" if node.complete else "cancelled")}
    out["children"] = []
    return out


def _counterfactuals(t: Token) -> dict[str, float] | None:
    cf: dict[str, float] = {}
    for a in t.alternatives:  # most likely first, as the original sorts them; a repeated text keeps its best
        cf.setdefault(a.text, a.logprob)
    return cf or None


def export_data(session, node_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """A subtree (or the whole session) in the original loom's format."""
    state = session.get_state(STATE_KEY) or {}
    tops = [session.node(node_id).id] if node_id is not None else session.child_ids(None)
    if not tops:
        raise TreeFormatError(f"{session.path}: has no nodes to export")
    ids = [i for t in tops for i in session.subtree_ids(t)]
    responses: dict[str, Any] = {}
    made: dict[int, dict] = {}
    sids: dict[int, str] = {}
    for n, nid in enumerate(ids, 1):
        node = session.node(nid)
        sid = sids[nid] = _sid(session, node)
        parent = made.get(node.parent_id)
        made[nid] = _node_out(session, node, sid, parent["id"] if parent else None, responses)
        if parent is not None:
            parent["children"].append(made[nid])
        if progress and (n % 200 == 0 or n == len(ids)):
            progress(n, len(ids))
    if len(tops) == 1:
        root = made[tops[0]]
    else:  # several roots: the original loom needs one, so an empty root holds them
        root = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"loom:{session.name}:roots")), "text": "",
                "mutable": False, "visited": True, "children": [made[t] for t in tops]}
        for t in tops:
            made[t]["parent_id"] = root["id"]
    for resp in responses.values():  # siblings of one response left out of this export
        resp["completions"] = [c or {"text": "", "tokens": [], "finishReason": None} for c in resp["completions"]]
    out = dict(state)
    out["root"] = root
    out["model_responses"] = {**(state.get("model_responses") or {}), **responses}
    # Tags on nodes need no definition in the original loom (its own demo tags nodes "demo" without one);
    # bookmark, the tag loom's bookmarks use, is among its defaults.
    out.setdefault("tags", {"bookmark": {"name": "bookmark", **_TAG_DEFAULT, "toggle_key": "b", "icon": "bookmark-black"}})
    out.setdefault("chapters", {})
    cur = session.current
    if cur in sids:
        out["selected_node_id"] = sids[cur]
    elif out.get("selected_node_id") not in set(sids.values()):
        out["selected_node_id"] = root["id"]
    return out
