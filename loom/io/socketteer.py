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

import codecs
import datetime as _dt
import hashlib
import json
import math
import tempfile
import time
import uuid
from typing import Any

from ..tokenbytes import display_text, token_bytes
from ..tree import Alternative, Node, Token
from . import Problems, Progress, TreeFormatError
from .jsonstream import Sink, dumps_at, key_text

STATE_KEY = "socketteer"
META_KEY = "socketteer"
_OWN = ("text", "children", "parent_id")  # rebuilt from the loom tree on export
_TIME_FMT = "%Y-%m-%d-%H.%M.%S"
_SOURCE_TO_AUTHOR = {"AI": "model", "mixed": "edit"}
END_OF_TEXT = "<|endoftext|>"
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
    if not isinstance(gen, dict) or not isinstance(gen.get("id"), str) or gen["id"] not in responses:
        return None, None, None, None
    resp = responses[gen["id"]]
    model = resp.get("model") if isinstance(resp, dict) and isinstance(resp.get("model"), str) else None
    try:
        comp = resp["completions"][gen.get("index", 0)]
    except (KeyError, IndexError, TypeError):
        return None, None, None, f"response {gen['id']} has no completion {gen.get('index')}"
    info = {k: resp[k] for k in ("id", "model", "timestamp") if k in resp}
    if isinstance(comp, dict) and "finishReason" in comp:
        info["finishReason"] = comp["finishReason"]
    raw = comp.get("tokens") if isinstance(comp, dict) else None
    if not raw:
        return None, model, info, None
    tokens = []
    # OpenAI wrote a token inside a character as `bytes:\\xe2\\x80`: the bytes are joined, the
    # token that completes the character carries it and the pieces before it are empty
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for td in raw:
        g = td.get("generatedToken") or {}
        text = str(g.get("token", ""))
        if text == END_OF_TEXT:  # the completion ended here; what the file has after it was never shown
            break
        cf = td.get("counterfactuals") or {}
        if isinstance(cf, list):  # an older shape: a list of {token: logprob}
            cf = {k: v for d in cf if isinstance(d, dict) for k, v in d.items()}
        pending = decoder.getstate()[0]
        alts = sorted(((_piece_text(str(k), pending), float(v)) for k, v in cf.items()
                       if isinstance(v, (int, float))), key=lambda a: -a[1])
        if text.startswith("bytes:"):
            piece = decoder.decode(token_bytes(text) or b"")
        else:  # a whole token, kept exactly as written (after any character left open before it)
            piece = (decoder.decode(b"", final=True) if pending else "") + text
            decoder.reset()
        lp = g.get("logprob")
        tokens.append(Token(text=piece, logprob=None if lp is None else float(lp),
                            alternatives=tuple(Alternative(t, p) for t, p in alts)))
    rest = decoder.decode(b"", final=True)  # bytes of a character the completion never finished
    if rest and tokens:
        last = tokens[-1]
        tokens[-1] = Token(last.text + rest, last.logprob, last.token_id, last.alternatives, last.raw)
    joined = "".join(t.text for t in tokens)
    text = node["text"]
    # The original prepends its "start" text to a completion and lets users edit nodes:
    # text around the tokens becomes a token without a probability; an edited middle drops them.
    if text.startswith(joined) or (joined and text.endswith(joined)):
        head, tail = ("", text[len(joined):]) if text.startswith(joined) else (text[: len(text) - len(joined)], "")
        tokens = ([Token(head, None)] if head else []) + tokens + ([Token(tail, None)] if tail else [])
        if comp != _completion(text, tokens, comp.get("finishReason")):
            info["completion"] = comp  # the original's own record (byte tokens, positions...), exported as it was
        return tokens, model, info, None
    info["completion"] = comp  # kept as it was, so an export gives the original response back
    return None, model, info, "the node text no longer matches its tokens (edited)"


def _validate(root: dict, responses: Any) -> tuple[int, Problems]:
    """Check every node before anything is written: (how many nodes, the problems found)."""
    problem = Problems()
    if not isinstance(responses, dict):
        problem("model_responses must be an object")
        responses = {}
    seen: dict[str, tuple | None] = {}
    n = 0
    stack: list[tuple[Any, tuple | None]] = [(root, None)]  # a node and its place: (place of its parent, index)
    while stack:
        node, place = stack.pop()
        where = _Where(place)
        n += 1
        if not isinstance(node, dict):
            problem(f"{where}: a node must be an object, not {type(node).__name__}")
            continue
        if not isinstance(node.get("text", ""), str):
            problem(f"{where} (id {node.get('id')}): text must be a string")
        kids = node.get("children") or []
        if not isinstance(kids, list):
            problem(f"{where} (id {node.get('id')}): children must be a list")
            kids = []
        sid = node.get("id")
        if isinstance(sid, str):
            if sid in seen:
                problem(f"{where}: id {sid!r} is also the id of {_Where(seen[sid])}")
            else:
                seen[sid] = place
        if not isinstance(node.get("tags") or [], list):
            problem(f"{where} (id {sid}): tags must be a list")
        why = _meta_problem(node.get("meta"))
        if why:
            problem(f"{where} (id {sid}): {why}")
        gen = node.get("generation")
        if isinstance(gen, dict) and isinstance(gen.get("id"), str) and gen["id"] in responses \
                and isinstance(node.get("text", ""), str):
            why = _token_problem(node, gen, responses[gen["id"]])
            if why:
                problem(f"{where} (id {sid}): its token data in model_responses is malformed ({why})")
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], (place, i)))
    return n, problem


_AUTHORS = ("prompt", "model", "human", "edit")


def _piece_text(text: str, pending: bytes) -> str:
    """An alternative's text: a `bytes:` piece decoded with the bytes left open before it."""
    return display_text(text, token_bytes(text), pending) if text.startswith("bytes:") else text


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a node's `meta`, if anything: the original's own fields, and the
    `meta.loom` block loom's export writes (trusted on import, so checked here)."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"meta must be an object, not {type(meta).__name__}"
    if meta.get("source") is not None and not isinstance(meta["source"], str):
        return "meta.source must be a string"
    back = meta.get("loom")
    if back is None:
        return None
    if not isinstance(back, dict):
        return "meta.loom must be an object"
    if back.get("author") is not None and back["author"] not in _AUTHORS:
        return f"meta.loom.author must be one of {', '.join(_AUTHORS)}"
    if back.get("model") is not None and not isinstance(back["model"], str):
        return "meta.loom.model must be a string"
    for key, kind in (("meta", dict), ("params", dict), ("complete", bool)):
        if back.get(key) is not None and not isinstance(back[key], kind):
            return f"meta.loom.{key} must be {'an object' if kind is dict else 'true or false'}"
    created = back.get("created")
    if created is not None and (isinstance(created, bool) or not isinstance(created, (int, float))
                                or not math.isfinite(created)):
        return "meta.loom.created must be a number"
    if back.get("params"):
        from ..tree import GenerationParams

        try:
            GenerationParams.from_dict(back["params"])
        except (TypeError, ValueError, KeyError) as exc:
            return f"meta.loom.params are not generation settings ({exc})"
    return None


class _Where:
    """Where a node is in the file, as root.children[0].children[2]..., worked out only when
    printed (a path string per node would take memory with the square of the depth)."""

    def __init__(self, place: tuple | None):
        self.place = place

    def __str__(self) -> str:
        steps: list[int] = []
        at = self.place
        while at is not None:
            at, i = at
            steps.append(i)
        steps.reverse()
        if len(steps) > 8:  # deep: the first and last steps, and how many between
            return ("root" + "".join(f".children[{i}]" for i in steps[:3]) + f"...({len(steps) - 6} levels)..."
                    + "".join(f".children[{i}]" for i in steps[-3:]))
        return "root" + "".join(f".children[{i}]" for i in steps)


def _token_problem(node: dict, gen: dict, resp: Any) -> str | None:
    """What would stop `_tokens` reading this node's token data (checked without building the tokens)."""
    if "text" not in node:
        return "the node has no text"
    try:
        comp = resp["completions"][gen.get("index", 0)]
    except (KeyError, IndexError, TypeError):
        return None  # no such completion: the node keeps its text, and the summary says so
    raw = comp.get("tokens") if isinstance(comp, dict) else None
    if not raw:
        return None
    if not isinstance(raw, list):
        return "tokens must be a list"
    for j, td in enumerate(raw):
        if not isinstance(td, dict):
            return f"token {j} is not an object"
        g = td.get("generatedToken") or {}
        cf = td.get("counterfactuals") or {}
        if not isinstance(g, dict) or not isinstance(cf, (dict, list)):
            return f"token {j}: generatedToken and counterfactuals must be objects"
        if isinstance(cf, list) and not all(isinstance(d, dict) for d in cf):
            return f"token {j}: counterfactuals must be objects"
        lp = g.get("logprob")
        if lp is not None and not isinstance(lp, (int, float)):
            try:
                float(lp)
            except (TypeError, ValueError):
                return f"token {j}: logprob {lp!r} is not a number"
    return None


def fingerprint(root: dict, top: dict) -> str:
    """sha256 of the tree's content, whatever its layout in the file: the top-level object and
    each node (without its children) as canonical JSON, with each node's number of children."""
    h = hashlib.sha256()

    def canon(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()

    h.update(canon({k: v for k, v in top.items() if k != "root"}))
    stack = [root]
    while stack:
        node = stack.pop()
        kids = node.get("children") or []
        h.update(canon({k: v for k, v in node.items() if k != "children"}) + b"#%d;" % len(kids))
        stack.extend(reversed(kids))
    return h.hexdigest()


IMPORTS_KEY = "imports"  # session state: the files imported, so that the same one is not imported twice


def import_data(session, data: Any, *, under: int | None = None, progress: Progress | None = None,
                source: str = "") -> dict[str, Any]:
    """Import a tree in the original loom's format, all of it or (on any problem) none of it:
    every node is checked first, then all are written in one transaction. The file's
    fingerprint is kept in the session state `imports`, and the same content imported again
    to the same place (the same `under`, or as roots) is refused."""
    root, top = normalise(data)
    if under is not None:
        session.node(under)
    responses = top.get("model_responses") or {}
    total, problems = _validate(root, responses)
    if problems.count:
        raise problems.error(total)
    digest = fingerprint(root, top)
    done = session.get_state(IMPORTS_KEY) or []
    for rec in done if isinstance(done, list) else ():
        if isinstance(rec, dict) and rec.get("sha256") == digest and rec.get("under") == under:
            when = _dt.datetime.fromtimestamp(rec.get("at", 0), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            where = f"under node {under}" if under is not None else "as a root"
            raise TreeFormatError(
                f"already imported into this session {where} as nodes {rec.get('first')}..{rec.get('last')} "
                f"on {when} (the same content, sha256 {digest[:12]}); nothing was imported again")
    fresh = under is None and session.count() == 0
    # the file's own bookkeeping: entries of the wrong shape are left out, not trusted as keys
    raw_chapters = top.get("chapters") if isinstance(top.get("chapters"), dict) else {}
    chapters = {c["id"]: c for c in raw_chapters.values() if isinstance(c, dict) and isinstance(c.get("id"), str)}
    chapter_roots = {c["root_id"]: c for c in chapters.values() if isinstance(c.get("root_id"), str)}
    canonical = {c for c in top.get("canonical") or [] if isinstance(c, str)} if isinstance(top.get("canonical"), list) else set()
    by_sid: dict[str, int] = {}
    stats = {"nodes": 0, "tokens": 0, "nodes_with_tokens": 0, "tokens_dropped": 0, "tags": 0, "max_depth": 0}
    notes: list[str] = []
    first: int | None = None
    last: int | None = None
    stack: list[tuple[Any, int | None, int]] = [(root, under, 0)]
    with session.bulk():
        while stack:
            node, parent, depth = stack.pop()
            text = node.get("text", "")
            kids = node.get("children") or []
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
            last = new.id
            sid = node.get("id") if isinstance(node.get("id"), str) else None
            if sid is not None:
                by_sid[sid] = new.id
            tags = [t for t in node.get("tags") or [] if isinstance(t, str)]
            tags += [t for t in ("bookmark", "canonical", "archived") if node.get(t) is True]  # older files: attributes
            if sid in canonical:
                tags.append("canonical")
            chapter_id = node.get("chapter_id") if isinstance(node.get("chapter_id"), str) else None
            for c in (chapters.get(chapter_id), chapter_roots.get(sid)):
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
            if progress and (stats["nodes"] % 1000 == 0 or stats["nodes"] == total):
                progress(stats["nodes"], total)
            for i in range(len(kids) - 1, -1, -1):  # reversed so children get ids in file order
                stack.append((kids[i], new.id, depth + 1))
        kept = {k: v for k, v in top.items() if k not in ("root", "model_responses")}
        if fresh:
            session.set_state(STATE_KEY, kept)
            sel = by_sid.get(top["selected_node_id"]) if isinstance(top.get("selected_node_id"), str) else None
            session.current = sel if sel is not None else first
        else:  # merging: keep chapters and tag definitions so an export still knows them
            state = session.get_state(STATE_KEY) or {}
            for key in ("chapters", "tags"):
                if isinstance(kept.get(key), dict):
                    state[key] = {**kept[key], **(state.get(key) or {})}
            session.set_state(STATE_KEY, state)
        record = {"sha256": digest, "format": "socketteer", "file": source, "under": under, "first": first,
                  "last": last, "nodes": stats["nodes"], "at": time.time()}
        session.set_state(IMPORTS_KEY, [*(done if isinstance(done, list) else []), record])
    return {**stats, "root": first, "notes": notes, "sha256": digest}


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
    if kept:  # imported: the original's completion as it was (byte tokens, positions, end of text)
        comps[gen.get("index", 0)] = kept
    elif node.tokens:
        comps[gen.get("index", 0)] = _completion(
            node.text, node.tokens, info.get("finishReason", "length" if node.complete else "cancelled"))
    out["children"] = []
    return out


def _completion(text: str, tokens: list[Token], finish: Any) -> dict[str, Any]:
    """A node's tokens as a completion of the original format."""
    pos = 0
    toks = []
    for t in tokens:
        toks.append({"generatedToken": {"token": t.text, "logprob": t.logprob},
                     "position": {"start": pos, "end": pos + len(t.text)}, "counterfactuals": _counterfactuals(t)})
        pos += len(t.text)
    return {"text": text, "tokens": toks, "finishReason": finish}


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


DEEP = 200  # a tree deeper than this is written on one line: indentation would grow the file with depth squared


def _max_depth(session, tops: list[int]) -> int:
    rows = session.db.conn.execute(
        "WITH RECURSIVE d(id, depth) AS ("
        f" SELECT id, 0 FROM nodes WHERE id IN ({','.join('?' * len(tops))})"
        " UNION ALL SELECT n.id, d.depth + 1 FROM nodes n JOIN d ON n.parent_id = d.id)"
        " SELECT max(depth) FROM d", tops).fetchone() if len(tops) <= 900 else (None,)
    if rows[0] is None:  # many roots: take the deepest of each
        return max(_max_depth(session, tops[i:i + 900]) for i in range(0, len(tops), 900)) if len(tops) > 900 else 0
    return rows[0]


def write_export(session, sink: Sink, node_id: int | None = None, progress: Progress | None = None) -> int:
    """Write the text json.dump(export_data(...), indent=1) gives (a tree deeper than DEEP levels:
    on one line, as json.dump without indent), one node at a time and without recursion:
    memory does not grow with the number of nodes or the depth. Returns the number of nodes."""
    state = session.get_state(STATE_KEY) or {}
    tops = [session.node(node_id).id] if node_id is not None else session.child_ids(None)
    if not tops:
        raise TreeFormatError(f"{session.path}: has no nodes to export")
    total = session.count() if node_id is None else len(session.subtree_ids(node_id))
    indent = 1 if _max_depth(session, tops) + (len(tops) > 1) <= DEEP else None
    ea = sink.ensure_ascii
    sep = "," if indent else ", "

    def nl(level: int) -> str:
        return "\n" + " " * level if indent else ""

    def val(value: Any, level: int) -> str:
        return dumps_at(value, level, indent=indent, ensure_ascii=ea)

    multi = len(tops) > 1
    root_sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"loom:{session.name}:roots")) if multi else None
    # the selected node, needed where the state has it, before the tree
    cur = session.current
    exported = cur is not None and (node_id is None or cur in set(session.subtree_ids(node_id)))
    if exported:
        selected = _sid(session, session.node(cur))
    else:
        selected = root_sid if multi else _sid(session, session.node(tops[0]))
        before = state.get("selected_node_id")
        if isinstance(before, str):
            ids = session.all_ids() if node_id is None else session.subtree_ids(node_id)
            if any(_sid(session, session.node(i)) == before for i in ids):
                selected = before
    keys = list(state)
    keys += [k for k in ("root", "model_responses") if k not in state]
    keys += [k for k in ("tags", "chapters", "selected_node_id") if k not in state]
    defaults = {"tags": {"bookmark": {"name": "bookmark", **_TAG_DEFAULT, "toggle_key": "b", "icon": "bookmark-black"}},
                "chapters": {}}
    # model_responses come after the tree: each response's parts are written to a spool file as their
    # nodes are read (no node is read twice), and put together from it after the tree
    gens: dict[str, list] = {}  # generation id -> [(where its text after the completions is), completions, {index: where}]
    spool = tempfile.TemporaryFile()

    def spooled(text: str) -> tuple[int, int]:
        data = text.encode("utf-8", "surrogatepass")
        at = spool.seek(0, 2)
        spool.write(data)
        return at, len(data)

    def unspool(where: tuple[int, int]) -> str:
        spool.seek(where[0])
        return spool.read(where[1]).decode("utf-8", "surrogatepass")
    done = 0

    def open_node(out: dict, level: int, after: dict) -> list | None:
        """Write a node up to its children; a frame for them, or None (closed: no children)."""
        parts = ["{"]
        first = True
        for k, v in out.items():
            if k == "children":
                continue
            parts.append(("" if first else sep) + nl(level + 1) + key_text(k, ea) + ": " + val(v, level + 1))
            first = False
        parts.append(("" if first else sep) + nl(level + 1) + '"children": ')
        tail = "".join(sep + nl(level + 1) + key_text(k, ea) + ": " + val(v, level + 1) for k, v in after.items())
        sink.write("".join(parts))
        return tail

    def node_out(nid: int, parent_sid: str | None) -> tuple[dict, str]:
        nonlocal done
        node = session.node(nid)
        sid = _sid(session, node)
        mine: dict[str, Any] = {}
        out = _node_out(session, node, sid, parent_sid, mine)
        for gid, resp in mine.items():
            g = gens.get(gid)
            if g is None:  # the first node of a response gives its other fields
                tail = "".join(sep + nl(3) + key_text(k, ea) + ": " + val(v, 3) for k, v in resp.items()
                               if k != "completions") + nl(2) + "}"
                g = gens[gid] = [spooled(tail), 0, {}]
            g[1] = max(g[1], len(resp["completions"]))
            for i, c in enumerate(resp["completions"]):
                if c is not None:
                    g[2][i] = spooled(val(c, 4))
        done += 1
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)
        return out, sid

    def write_tree(level: int) -> None:
        stack: list[list] = []  # [child ids left, the node's level, its sid, text after its children, first]

        def start(out: dict, sid: str, nid: int | None, lvl: int, after: dict, kids: list[int]) -> None:
            tail = open_node(out, lvl, after)
            if not kids:
                sink.write("[]" + tail + nl(lvl) + "}")
            else:
                sink.write("[")
                stack.append([iter(kids), lvl, sid, tail, True])

        if multi:
            root = {"id": root_sid, "text": "", "mutable": False, "visited": True, "children": []}
            start(root, root_sid, None, level, {}, tops)
        else:
            out, sid = node_out(tops[0], None)
            start(out, sid, tops[0], level, {}, session.child_ids(tops[0]))
        while stack:
            fr = stack[-1]
            kid = next(fr[0], None)
            if kid is None:
                stack.pop()
                sink.write(nl(fr[1] + 1) + "]" + fr[3] + nl(fr[1]) + "}")
                continue
            sink.write(("" if fr[4] else sep) + nl(fr[1] + 2))
            fr[4] = False
            if multi and fr[1] == level:  # a top under the made-up root: its parent_id comes after its children
                out, sid = node_out(kid, None)
                after = {"parent_id": root_sid}
            else:
                out, sid = node_out(kid, fr[2])
                after = {}
            start(out, sid, kid, fr[1] + 2, after, session.child_ids(kid))

    placeholder = {"text": "", "tokens": [], "finishReason": None}  # siblings of a response left out of this export

    def response(gid: str) -> str:
        tail, n, slots = gens[gid]
        items = [unspool(slots[i]) if i in slots else val(placeholder, 4) for i in range(n)]
        comps = "[" + "".join(("" if i == 0 else sep) + nl(4) + t for i, t in enumerate(items)) + nl(3) + "]" if items else "[]"
        return "{" + nl(3) + '"completions": ' + comps + unspool(tail)

    sink.write("{")
    for i, k in enumerate(keys):
        sink.write(("" if i == 0 else sep) + nl(1) + key_text(k, ea) + ": ")
        if k == "root":
            write_tree(1)
        elif k == "model_responses":
            before = state.get("model_responses") or {}
            order = list(before) + [g for g in gens if g not in before]
            if not order:
                sink.write("{}")
                continue
            sink.write("{")
            for j, gid in enumerate(order):
                text = response(gid) if gid in gens else val(before[gid], 2)
                sink.write(("" if j == 0 else sep) + nl(2) + key_text(gid, ea) + ": " + text)
            sink.write(nl(1) + "}")
        elif k == "selected_node_id":
            sink.write(val(selected, 1))
        else:
            sink.write(val(state[k] if k in state else defaults[k], 1))
    sink.write(nl(0) + "}")
    spool.close()
    return total
