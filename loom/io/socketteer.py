"""The original loom's JSON (socketteer/loom, tkinter): import and export.

A file is an object with `root` (nodes nest through `children`) plus
chapters, tags, model_responses and settings; the original also opens a bare
root node or a list of children. On import each node's own fields (its id,
meta, generation link, chapter, view state) are kept in the loom node's
`meta["socketteer"]`, its tags become loom tags, chapters become
`chapter:<title>` tags, and the file's top-level settings and model responses
(their prompts, and completions no node holds) are kept in the session state
`socketteer`, so an export gives the same file back. Token data of both of its
shapes (socketteer_tokens) becomes loom Tokens (token_id None: that loom
recorded no token ids).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import hashlib
import io
import json
import math
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..tree import Node, Token
from . import Problems, Progress, TreeFormatError
from .jsonstream import Sink, dumps_at, key_text
from .sessionlike import SessionLike
from .socketteer_prompts import PATH_PROMPTS_KEY, Elider, PathText
from .socketteer_tokens import (
    DROPPED,
    NO_COMPLETION,
    NO_RESPONSE,
    Found,
    any_response_problem,
    completion_out,
    completion_text,
    core_of,
    from_meta,
    from_response,
    generation_out,
    meta_problem,
    response_problem,
)
from .spool import KeyedSpool, Spool, slots
from .treefile import ListTree, Place, Tree, walk

STATE_KEY = "socketteer"
SELECTED_KEY = "socketteer_selected"  # the node the import made current: the file's selection stands while it is
META_KEY = "socketteer"
_OWN = ("text", "children", "parent_id")  # rebuilt from the loom tree on export
_TIME_FMT = "%Y-%m-%d-%H.%M.%S"
_SOURCE_TO_AUTHOR: dict[str | None, str] = {"AI": "model", "mixed": "edit"}
_AUTHOR_TO_SOURCE = {"model": "AI", "edit": "mixed", "human": "prompt", "prompt": "prompt"}
_TAG_DEFAULT = {"scope": "node", "hide": False, "show_only": False, "toggle_key": "None", "icon": "None"}
PROMPT_LENGTH = 6000  # the original's default `prompt_length`: the characters of a path it sends


def normalise(data: Any) -> tuple[Any, dict[str, Any]]:
    """(root node, top-level object) for the three shapes the original loom opens. The root is a
    dict, or a treefile.Tree for a file read in pieces (loom.io.treefile): walk it with `walk`."""
    if isinstance(data, ListTree):
        return data.tree, {}
    if isinstance(data, dict) and "root" in data:
        root, top = data["root"], data
    elif isinstance(data, dict) and "text" in data:
        root, top = data, {}
        if isinstance(data.get("children"), Tree):  # a bare node read in pieces: its own fields are the root's
            root = data["children"]
            root.nodes.put(0, ({k: v for k, v in data.items() if k != "children"}, 0, None, root.kids, False))
    elif isinstance(data, list):
        root, top = {"text": "", "children": data, "mutable": False, "visited": True}, {}
    else:
        raise TreeFormatError("expected an object with 'root', a node with 'text', or a list of nodes")
    if not isinstance(root, (dict, Tree)):
        raise TreeFormatError("'root' must be a node object")
    return root, top


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: a field of the wrong shape is left out."""
    return value if isinstance(value, dict) else {}


def _created(meta: Any) -> float | None:
    stamp = meta.get("creation_timestamp") if isinstance(meta, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return _dt.datetime.strptime(stamp, _TIME_FMT).replace(tzinfo=_dt.UTC).timestamp()
    except ValueError:
        return None


def _validate(
    root: Any,
    responses: Any,
    digest: _Digest | None = None,
    suspects: set[int] | None = None,
    names: array[int] | None = None,
) -> tuple[int, Problems]:
    """Check every node before anything is written: (how many nodes, the problems found). Each
    node is also fed to `digest` (the nodes' part of the fingerprint), so the file is walked once,
    and counted in `names` (by its response's slot) where it names a spooled model response.

    A repeated id is found by the ids' hashes (not a copy of every id, with where it is): where
    two hash alike, the walk is made again (`suspects`), keeping only those ids, with their places."""
    problem = Problems()
    if not isinstance(responses, (dict, KeyedSpool)):
        problem("model_responses must be an object")
        responses = {}
    # spooled responses are read again only where the digest found a completion to look at
    looked = digest.suspects if digest is not None and isinstance(responses, KeyedSpool) else None
    hashes: set[int] = set()
    twice: set[int] = set()
    seen: dict[str, Place | None] = {}
    n = 0
    for node, place, _depth, kids, bad in walk(root):  # place: (place of its parent, index)
        where = _Where(place)
        n += 1
        if not isinstance(node, dict):
            problem(f"{where}: a node must be an object, not {type(node).__name__}")
            continue
        if digest is not None:
            digest.node(node, kids)
        if not isinstance(node.get("text", ""), str):
            problem(f"{where} (id {node.get('id')}): text must be a string")
        if bad:
            problem(f"{where} (id {node.get('id')}): children must be a list")
        sid = node.get("id")
        if isinstance(sid, str):
            if suspects is None:
                h = hash(sid)
                if h in hashes:
                    twice.add(h)
                hashes.add(h)
            elif hash(sid) not in suspects:
                pass
            elif sid in seen:
                problem(f"{where}: id {sid!r} is also the id of {_Where(seen[sid])}")
            else:
                seen[sid] = place
        if not isinstance(node.get("tags") or [], list):
            problem(f"{where} (id {sid}): tags must be a list")
        why = _meta_problem(node.get("meta"))
        if why:
            problem(f"{where} (id {sid}): {why}")
        gen = node.get("generation")
        if names is not None and suspects is None and isinstance(gen, dict) and isinstance(gen.get("id"), str):
            if gen["id"] in responses:
                names[responses.slot(gen["id"])] += 1
        if (
            isinstance(gen, dict)
            and isinstance(gen.get("id"), str)
            and gen["id"] in responses
            and isinstance(node.get("text", ""), str)
        ):
            if looked is None or "text" not in node or responses.slot(gen["id"]) in looked:
                why = response_problem(node, gen, responses[gen["id"]])
            else:
                why = None  # (every completion of this response is well formed)
            if why:
                problem(f"{where} (id {sid}): its token data in model_responses is malformed ({why})")
    if twice:  # an id repeated (or two ids whose hashes are alike): again, to say where (the digest is whole)
        return _validate(root, responses, None, twice)
    return n, problem


_AUTHORS = ("prompt", "model", "human", "edit")


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a node's `meta`, if anything: the original's own fields, and the
    `meta.loom` block loom's export writes (trusted on import, so checked here)."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"meta must be an object, not {type(meta).__name__}"
    if meta.get("source") is not None and not isinstance(meta["source"], str):
        return "meta.source must be a string"
    why = meta_problem(meta.get("generation"))
    if why:
        return why
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
    if created is not None and (
        isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created)
    ):
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

    def __init__(self, place: Place | None):
        self.place = place

    def __str__(self) -> str:
        steps: list[int] = []
        at = self.place
        while at is not None:
            at, i = at
            steps.append(i)
        steps.reverse()
        if len(steps) > 8:  # deep: the first and last steps, and how many between
            return (
                "root"
                + "".join(f".children[{i}]" for i in steps[:3])
                + f"...({len(steps) - 6} levels)..."
                + "".join(f".children[{i}]" for i in steps[-3:])
            )
        return "root" + "".join(f".children[{i}]" for i in steps)


# json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")), without the check for
# circular references (values read from JSON have none): the fingerprint writes every node and response
_canon_text = json.JSONEncoder(sort_keys=True, ensure_ascii=True, separators=(",", ":"), check_circular=False).encode
#: json.dumps(value), the same way
_dumps = json.JSONEncoder(check_circular=False).encode


def _canon(value: Any) -> bytes:
    return _canon_text(value).encode()


def response_summary(resp: Any) -> tuple[bytes | None, bool]:
    """What an import needs of a model response, taken as the file is read (KeyedSpool's summary),
    so that nothing reads the response back for it: its canonical JSON for the fingerprint (None
    where json cannot write it: the fingerprint then fails as it would have), and whether a
    completion in it is malformed (the check then looks at it, with the nodes that name it)."""
    try:
        text: bytes | None = _canon(resp)
    except (RecursionError, ValueError, TypeError):
        text = None
    return text, any_response_problem(resp)


class _Digest:
    """fingerprint's sha256, fed the top-level object first and then each node as the check walks
    them. A value json cannot write (nested too deep) is raised by `hexdigest`, after the check."""

    def __init__(self, top: dict[str, Any]):
        self.h = hashlib.sha256()
        self.failed: BaseException | None = None
        # the spooled responses (by slot) with a completion the check must look at; None: look at all
        self.suspects: set[int] | None = None
        try:
            self._top(top)
        except (RecursionError, ValueError, TypeError) as exc:
            self.failed = exc

    def _top(self, top: dict[str, Any]) -> None:
        # a key at a time: spooled model responses one at a time, in canon's order
        h = self.h
        h.update(b"{")
        for i, k in enumerate(sorted(k for k in top if k != "root")):
            h.update((b"," if i else b"") + _canon(k) + b":")
            v = top[k]
            if isinstance(v, KeyedSpool):
                h.update(b"{")
                suspects = set(v.marked)
                for j, gid in enumerate(sorted(v)):
                    text = v.summary(gid)  # taken as the file was read (response_summary)
                    if text is None:  # (not summarized, or json could not write it: raises again here)
                        resp = v[gid]
                        text = _canon(resp)
                        if not v.summarized and any_response_problem(resp):
                            suspects.add(v.slot(gid))
                    h.update((b"," if j else b"") + _canon(gid) + b":" + text)
                h.update(b"}")
                if k == "model_responses":
                    self.suspects = suspects
            else:
                h.update(_canon(v))
        h.update(b"}")

    def node(self, node: dict[str, Any], kids: int) -> None:
        if self.failed is not None:
            return
        try:
            own = {k: v for k, v in node.items() if k != "children"} if "children" in node else node  # (spooled: none)
            self.h.update(_canon(own) + b"#%d;" % kids)
        except (RecursionError, ValueError, TypeError) as exc:
            self.failed = exc

    def hexdigest(self) -> str:
        if self.failed is not None:
            raise self.failed
        return self.h.hexdigest()


def fingerprint(root: Any, top: dict[str, Any]) -> str:
    """sha256 of the tree's content, whatever its layout in the file: the top-level object and
    each node (without its children) as canonical JSON, with each node's number of children."""
    digest = _Digest(top)
    for node, _place, _depth, kids, _bad in walk(root):
        digest.node(node, kids)
    return digest.hexdigest()


IMPORTS_KEY = "imports"  # session state: the files imported, so that the same one is not imported twice


def import_data(
    session: SessionLike, data: Any, *, under: int | None = None, progress: Progress | None = None, source: str = ""
) -> dict[str, Any]:
    """Import a tree in the original loom's format, all of it or (on any problem) none of it:
    every node is checked first, then all are written in one transaction. The file's
    fingerprint is kept in the session state `imports`, and the same content imported again
    to the same place (the same `under`, or as roots) is refused."""
    root, top = normalise(data)
    if under is not None:
        session.node(under)
    responses = top.get("model_responses") or {}
    check = _Digest(top)
    # how many nodes name each spooled response: its head is written when the last of them is
    names = array("I", bytes(4 * responses.slots())) if isinstance(responses, KeyedSpool) else None
    total, problems = _validate(root, responses, check, names=names)
    if problems.count:
        raise problems.error(total)
    digest = check.hexdigest()
    done = session.get_state(IMPORTS_KEY) or []
    for rec in done if isinstance(done, list) else ():
        if isinstance(rec, dict) and rec.get("sha256") == digest and rec.get("under") == under:
            when = _dt.datetime.fromtimestamp(rec.get("at", 0), _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            where = f"under node {under}" if under is not None else "as a root"
            raise TreeFormatError(
                f"already imported into this session {where} as nodes {rec.get('first')}..{rec.get('last')} "
                f"on {when} (the same content, sha256 {digest[:12]}); nothing was imported again"
            )
    fresh = under is None and session.count() == 0
    # the file's own bookkeeping: entries of the wrong shape are left out, not trusted as keys
    chapters = {
        c["id"]: c for c in _obj(top.get("chapters")).values() if isinstance(c, dict) and isinstance(c.get("id"), str)
    }
    chapter_roots = {c["root_id"]: c for c in chapters.values() if isinstance(c.get("root_id"), str)}
    canonical = (
        {c for c in top.get("canonical") or [] if isinstance(c, str)}
        if isinstance(top.get("canonical"), list)
        else set()
    )
    want = top.get("selected_node_id") if isinstance(top.get("selected_node_id"), str) else None
    selected: int | None = None  # the new id of the node the file has selected
    stats: dict[str, Any] = {
        "nodes": 0,
        "tokens": 0,
        "nodes_with_tokens": 0,
        "tokens_dropped": 0,
        "without_tokens": {},
        "tags": 0,
        "max_depth": 0,
    }
    notes: list[str] = []
    # completions a node gives back on export (its tokens rebuild them): a bit for each, by response slot
    held: dict[str | int, int] = {}
    key = slots(responses)
    heads = _Heads(names) if names is not None else None
    first: int | None = None
    last: int | None = None
    parents: list[int] = []  # the new ids of the nodes above the one being written, by depth
    # a fresh import keeps the prompts that are the path's text as null (socketteer_prompts)
    path = PathText(_prompt_length(top)) if fresh else None
    elider = Elider(responses) if fresh else None
    with session.bulk():
        for node, _place, depth, _kids, _bad in walk(root):  # parents first, children in file order
            del parents[depth:]
            if path is not None:
                path.at(depth)
            parent = parents[-1] if depth else under
            text = node.get("text", "")
            extra = {k: v for k, v in node.items() if k not in _OWN}
            meta_in = _obj(node.get("meta"))
            back = _obj(meta_in.get("loom"))  # written by our export
            found, slot = _found(node, responses)
            tokens, model = found.tokens, found.model
            if found.form is not None and slot is not None:  # its tokens give the completion back
                extra["response"] = {"form": found.form}
                held[key(slot[0])] = held.get(key(slot[0]), 0) | 1 << slot[1]
                if elider is not None and path is not None:
                    elider.see(slot[0], path)
            elif found.form is not None:  # the 2021 shape: its logprobs are rebuilt from the tokens
                extra["response"] = {"logprobs_form": found.form}
                extra["meta"] = {
                    **meta_in,
                    "generation": {k: v for k, v in meta_in["generation"].items() if k != "logprobs"},
                }
            if heads is not None and found.named is not None and isinstance(responses, KeyedSpool):
                heads.named(found.named, responses, held, elider)
            if found.why and not tokens:
                stats["without_tokens"][found.why] = stats["without_tokens"].get(found.why, 0) + 1
                if found.why in DROPPED:
                    stats["tokens_dropped"] += 1
                    if len(notes) < 5:
                        notes.append(f"node {node.get('id')}: {found.why}; kept the text without token data")
            generated = found.why is not None or tokens is not None  # the file says a model wrote it
            author = back.get("author") or (
                "prompt"
                if parent is None
                else _SOURCE_TO_AUTHOR.get(
                    meta_in.get("source"), "edit" if found.why in DROPPED else "model" if generated else "human"
                )
            )
            meta = {**(back.get("meta") or {}), META_KEY: extra}
            created = back.get("created") or _created(meta_in)
            new = session.add_node(
                parent,
                text,
                author,
                model=back.get("model") or model,
                params=back.get("params"),
                tokens=tokens,
                complete=back.get("complete", True),
                meta=meta,
                created=created,
            )
            first = new.id if first is None else first
            last = new.id
            sid = node.get("id") if isinstance(node.get("id"), str) else None
            if sid is not None and sid == want:
                selected = new.id
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
            parents.append(new.id)
            if path is not None:
                path.push(text)
        if first is None:  # (never: the file's root is written first, whatever its shape)
            raise TreeFormatError("the file has no root node")
        # the top-level keys in the file's order ("root" marks its place), and the model responses
        # without the completions that nodes give back
        # (the responses are written as JSON text a response at a time, never all held as objects)
        kept = {k: None if k == "root" else v for k, v in top.items()}
        theirs = top.get("model_responses")
        if fresh:
            if "model_responses" in top:
                session.set_state_json(
                    STATE_KEY,
                    _dumps_with(
                        kept, "model_responses", lambda out: _heads_json(out, theirs, held, elider, heads=heads)
                    ),
                )
            else:
                session.set_state(STATE_KEY, kept)
            if elider is not None and elider.ids():
                session.set_state(PATH_PROMPTS_KEY, elider.ids())
            session.current = selected if selected is not None else first
            session.set_state(SELECTED_KEY, session.current)
        else:  # merging: keep chapters, tag definitions and responses so an export still knows them
            state = session.get_state(STATE_KEY) or {}
            for name in ("chapters", "tags"):
                value = kept.get(name)
                if isinstance(value, dict):
                    state[name] = {**value, **(state.get(name) or {})}
            if isinstance(theirs, (dict, KeyedSpool)):  # those already kept win, as in {**theirs, **kept}
                mine = state.get("model_responses") or {}
                state["model_responses"] = None  # its place, for the text
                session.set_state_json(
                    STATE_KEY,
                    _dumps_with(
                        state, "model_responses", lambda out: _heads_json(out, theirs, held, None, mine, heads)
                    ),
                )
            else:
                session.set_state(STATE_KEY, state)
        top_node = root.root if isinstance(root, Tree) else root
        hidden = _hidden(top_node)
        if hidden:
            notes.append(
                f"the file is hoisted: its root {top_node.get('id')} hides {hidden} nodes (masked_head); they are "
                "kept as the file's data, not as loom nodes, and go back into the file on export"
            )
        record = {
            "sha256": digest,
            "format": "socketteer",
            "file": source,
            "under": under,
            "first": first,
            "last": last,
            "nodes": stats["nodes"],
            "at": time.time(),
        }
        session.set_state(IMPORTS_KEY, [*(done if isinstance(done, list) else []), record])
    return {**stats, "root": first, "notes": notes, "sha256": digest}


def _found(node: dict[str, Any], responses: Mapping[str, Any]) -> tuple[Found, tuple[str, int] | None]:
    """A node's token data: (what it holds, its (response id, completion index) in the response shape)."""
    text = node.get("text", "")
    gen = node.get("generation")
    meta = _obj(node.get("meta"))
    old = meta.get("generation") if isinstance(meta.get("generation"), dict) else None  # the 2021 shape
    gid = gen.get("id") if isinstance(gen, dict) else None
    named = gid if isinstance(gid, str) and gid in responses else None
    slot: tuple[str, int] | None = None
    if isinstance(gen, dict) and isinstance(gid, str) and (resp := responses.get(gid)) is not None:
        index = gen.get("index", 0)
        comps = resp.get("completions") if isinstance(resp, dict) else None
        if (
            isinstance(index, int)
            and not isinstance(index, bool)
            and isinstance(comps, list)
            and 0 <= index < len(comps)
        ):
            found, slot = from_response(text, comps[index]), (gid, index)
        else:
            found = Found(why=NO_COMPLETION)
        found.model = resp.get("model") if isinstance(resp, dict) and isinstance(resp.get("model"), str) else None
    elif isinstance(gid, str) and old is None:
        found = Found(why=NO_RESPONSE)
    else:
        found = from_meta(text, old) if old is not None else Found()
    found.named = named
    return found, slot


class _Heads:
    """The heads of spooled model responses (_head), each written as the last node that names it is
    (`names`: how many do, by slot), so that no response is read back again for its head."""

    def __init__(self, names: array[int]):
        self.names = names
        self.texts = Spool()
        self.at = array("q", [-1]) * len(names)  # by slot: where its head is in `texts`

    def named(self, rid: str, responses: KeyedSpool, held: dict[str | int, int], elider: Elider | None) -> None:
        slot = responses.slot(rid)
        self.names[slot] -= 1
        if not self.names[slot]:  # the last: its completions held and its prompt are known
            self.at[slot] = self.texts.add(_head(rid, responses[rid], held.get(slot, 0), elider))

    def get(self, slot: str | int) -> str | None:
        i = self.at[slot] if isinstance(slot, int) else -1
        return self.texts[i] if i >= 0 else None


def _head(rid: str, resp: Any, mask: int, elider: Elider | None) -> str:
    """json.dumps of a response as the session keeps it: null for each completion in `mask` (a bit
    for each), and, with `elider`, null for the prompt's text where the path gives it back."""
    if isinstance(resp, dict) and isinstance(resp.get("completions"), list):
        resp = {**resp, "completions": [None if mask >> i & 1 else c for i, c in enumerate(resp["completions"])]}
        if elider is not None:
            resp = elider.head(rid, resp)
    return _dumps(resp)


def _heads_json(
    out: bytearray,
    responses: Any,
    held: dict[str | int, int],
    elider: Elider | None = None,
    kept: Mapping[str, Any] | None = None,
    heads: _Heads | None = None,
) -> None:
    """Append to `out` json.dumps of the file's model responses with null where a node's tokens
    give a completion back (`held`: a bit for each, by spool.slots; and, with `elider`, where the
    path gives the prompt's text back), a response at a time. `kept`: responses the session has
    already, which win, as in json.dumps({**heads, **kept}). `heads`: those written already
    (_Heads). (json.dumps writes ASCII, so its text and its UTF-8 bytes are the same.)"""
    if not isinstance(responses, (dict, KeyedSpool)):
        out += json.dumps(responses).encode()
        return
    kept = kept or {}
    key = slots(responses)
    out += b"{"
    sep = ""
    for rid in responses:
        if rid in kept:
            text = _dumps(kept[rid])
        else:
            done = heads.get(key(rid)) if heads is not None else None
            text = done if done is not None else _head(rid, responses[rid], held.get(key(rid), 0), elider)
        out += (sep + _dumps(rid) + ": " + text).encode()
        sep = ", "
    for rid, resp in kept.items():
        if rid not in responses:
            out += (sep + json.dumps(rid) + ": " + json.dumps(resp)).encode()
            sep = ", "
    out += b"}"


def _dumps_with(obj: dict[str, Any], name: str, write: Callable[[bytearray], None]) -> bytearray:
    """json.dumps(obj) as its (ASCII) bytes, with `write` appending the value of `name`: a big
    value is written into the one buffer, not joined from copies of its pieces."""
    out = bytearray(b"{")
    for i, (k, v) in enumerate(obj.items()):
        out += ((", " if i else "") + json.dumps(k) + ": ").encode()
        if k == name:
            write(out)
        else:
            out += json.dumps(v).encode()
    out += b"}"
    return out


def _hidden(root: dict[str, Any]) -> int:
    """How many nodes a hoisted root hides in its `masked_head` (the original's hoist, model.py `zip`)."""
    stack = [root.get("masked_head")]
    n = 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            n += 1
            stack.extend(node.get("children") or [] if isinstance(node.get("children"), list) else [])
            stack.append(node.get("masked_head"))
    return n


# -- export --------------------------------------------------------------------
def _sid(session: SessionLike, node: Node) -> str:
    """The node's id in the original loom: kept from an import, else a stable uuid."""
    own = (node.meta.get(META_KEY) or {}).get("id")
    if isinstance(own, str):
        return own
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"loom:{session.name}:{node.id}:{node.created!r}"))


def _stamp(created: float) -> str:
    return _dt.datetime.fromtimestamp(created, _dt.UTC).strftime(_TIME_FMT)


def _index(gen: dict[str, Any]) -> int:
    i = gen.get("index", 0)
    return i if isinstance(i, int) and not isinstance(i, bool) and i >= 0 else 0


#: a completion a node gives back: the response's own dict, or (tokens, finish, positions) for completion_out
HeldCompletion = dict[str, Any] | tuple[list[Token], Any, list[Any]]
#: (response id, completion index, completion, the response's other fields)
Held = tuple[str, int, HeldCompletion, dict[str, Any] | None]


def _node_out(
    session: SessionLike, node: Node, sid: str, parent_sid: str | None, prompt: Callable[[], str]
) -> tuple[dict[str, Any], Held | None]:
    """The node as the original writes it (children still to come), and the completion it gives back.
    `prompt()`: the text of the path above the node, as the original sends it."""
    extra = dict(node.meta.get(META_KEY) or {})
    info = extra.pop("response", None)
    info = info if isinstance(info, dict) else {}
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
        out["meta"] = {
            "source": _AUTHOR_TO_SOURCE.get(node.author, "prompt"),
            "modified": node.author == "edit",
            "creation_timestamp": _stamp(node.created),
        }
        out["visited"] = True
        out["mutable"] = True
    if not extra or native or "loom" in (extra.get("meta") or {}):
        loom = {
            "author": node.author,
            "model": node.model,
            "params": node.params,
            "complete": node.complete,
            "created": node.created,
            "meta": native,
        }
        out["meta"] = {**(out.get("meta") or {}), "loom": loom}
    tokens = node.tokens
    gen = _obj(out.get("generation"))
    gid = gen.get("id") if isinstance(gen.get("id"), str) else None
    held: Held | None = None
    if tokens and "logprobs_form" in info and isinstance((out.get("meta") or {}).get("generation"), dict):
        out["meta"] = {
            **out["meta"],
            "generation": generation_out(out["meta"]["generation"], tokens, info["logprobs_form"]),
        }
    elif tokens and "form" in info and gid:
        form = info["form"]
        held = (
            gid,
            _index(gen),
            (core_of(tokens, form["trim"]), form.get("finish"), form["positions"]),
            None,
        )
    elif gid and "logprobs_form" not in info and "form" not in info and ("completion" in info or (tokens and info)):
        # imported by an earlier loom: the completion it kept, or the one its tokens make; the prompt is the path's
        comp = info.get("completion") or (tokens or [], info.get("finishReason"), ["span", 0])
        fields = {
            "prompt": {"text": prompt(), "tokens": None},
            "id": gid,
            "model": info.get("model", node.model or ""),
            **({"timestamp": info["timestamp"]} if "timestamp" in info else {}),
        }
        held = (gid, _index(gen), comp, fields)
    elif tokens and not extra:  # made in this loom: a response of its own, its prompt the path's text
        gid = f"loom-{sid}"
        out["generation"] = {"id": gid, "index": 0}
        text = prompt()
        how = node.meta.get("finish")
        finish = how if isinstance(how, str) else "length" if node.complete else "cancelled"
        held = (
            gid,
            0,
            (tokens, {"eos": "stop"}.get(finish, finish), ["span", len(text)]),
            {
                "prompt": {"text": text, "tokens": None},
                "id": gid,
                "model": node.model or "",
                "timestamp": _stamp(node.created),
            },
        )
    out["children"] = []
    return out, held


def export_data(session: SessionLike, node_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """A subtree (or the whole session) in the original loom's format, as data: what write_export writes."""
    buf = io.StringIO()
    sink = Sink(buf)
    write_export(session, sink, node_id, progress)
    sink.flush()
    data: dict[str, Any]
    try:
        data = json.loads(buf.getvalue())
    except RecursionError:
        from .jsonstream import loads_deep

        data = loads_deep(buf.getvalue())
    return data


def _prompt_length(state: dict[str, Any]) -> int:
    """How much of a path the original sends as the prompt: the file's `prompt_length`, or its default."""
    n = (
        (state.get("generation_settings") or {}).get("prompt_length")
        if isinstance(state.get("generation_settings"), dict)
        else None
    )
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else PROMPT_LENGTH


DEEP = 200  # a tree deeper than this is written on one line: indentation would grow the file with depth squared


def _max_depth(session: SessionLike, tops: list[int]) -> int:
    rows = (
        session.db.conn.execute(
            "WITH RECURSIVE d(id, depth) AS ("
            f" SELECT id, 0 FROM nodes WHERE id IN ({','.join('?' * len(tops))})"
            " UNION ALL SELECT n.id, d.depth + 1 FROM nodes n JOIN d ON n.parent_id = d.id)"
            " SELECT max(depth) FROM d",
            tops,
        ).fetchone()
        if len(tops) <= 900
        else (None,)
    )
    if rows[0] is None:  # many roots: take the deepest of each
        return max(_max_depth(session, tops[i : i + 900]) for i in range(0, len(tops), 900)) if len(tops) > 900 else 0
    depth: int = rows[0]
    return depth


@dataclass
class _Spooled:
    """A response whose completions write_export spooled: where its fields after the completions
    are (None: a kept response has its own), how many completions, and where each is."""

    tail: tuple[int, int] | None
    count: int = 0
    where: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class _Open:
    """A node write_export is in: its child ids left, its level, its sid, the text after its children."""

    kids: Iterator[int]
    level: int
    sid: str
    tail: str
    first: bool = True  # no child written yet


def write_export(session: SessionLike, sink: Sink, node_id: int | None = None, progress: Progress | None = None) -> int:
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
    heads = _obj(state.get("model_responses"))
    limit = _prompt_length(state)

    def nl(level: int) -> str:
        return "\n" + " " * level if indent else ""

    def val(value: Any, level: int) -> str:
        return dumps_at(value, level, indent=indent, ensure_ascii=ea)

    multi = len(tops) > 1
    root_sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"loom:{session.name}:roots"))  # the made-up root's, when multi
    # the selected node, needed where the state has it, before the tree
    cur = session.current
    exported = cur if cur is not None and (node_id is None or cur in set(session.subtree_ids(node_id))) else None
    before = state.get("selected_node_id")
    if node_id is None and isinstance(before, str) and cur == session.get_state(SELECTED_KEY):
        selected = before  # loom's current node is where the import put it: the file's selection stands, as it was
    elif exported is not None:
        selected = _sid(session, session.node(exported))
    else:
        selected = root_sid if multi else _sid(session, session.node(tops[0]))
        if isinstance(before, str):
            ids = session.all_ids() if node_id is None else session.subtree_ids(node_id)
            if any(_sid(session, session.node(i)) == before for i in ids):
                selected = before
    keys = list(state)
    keys += [k for k in ("root", "model_responses") if k not in state]
    # a session made in loom gets what the original needs to know its tags; an imported file, only a
    # selection the user made in loom (the original adds its default tags and chapters when it opens one)
    moved = cur != session.get_state(SELECTED_KEY)
    keys += [
        k
        for k in ("tags", "chapters", "selected_node_id")
        if k not in state and (not state or (k == "selected_node_id" and moved))
    ]
    defaults = {
        "tags": {"bookmark": {"name": "bookmark", **_TAG_DEFAULT, "toggle_key": "b", "icon": "bookmark-black"}},
        "chapters": {},
    }
    # model_responses come after the tree: the completions nodes give back are written to a spool file as
    # their nodes are read (no node is read twice), and put together from it after the tree
    gens: dict[str, _Spooled] = {}  # response id -> where its completions are
    refs: set[str] = set()  # the kept responses the nodes of a subtree export name
    elided = session.get_state(PATH_PROMPTS_KEY)
    elided = set(elided) if isinstance(elided, list) else set()  # responses whose prompt is the path's text
    prompt_at: dict[str, tuple[tuple[int, int], bool]] = {}  # where in the spool that text is; from a holder
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
    # the text of the path above the node being written: the ancestors' texts (the top's, outside the
    # export, as one), with running lengths, to cut the prompt the original would send
    above = session.parent_id(tops[0]) if node_id is not None else None
    path: list[str] = [session.path_text(above)[-limit:]] if above is not None else []
    ends: list[int] = [len(path[0])] if path else []

    def prompt() -> str:
        if not ends:
            return ""
        first = max(0, bisect.bisect_right(ends, ends[-1] - limit) - 1)
        return "".join(path[first:])[-limit:]

    def open_node(out: dict[str, Any], level: int, after: dict[str, Any]) -> str:
        """Write a node up to its children; the text that follows them."""
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

    def node_out(nid: int, parent_sid: str | None) -> tuple[dict[str, Any], str, str]:
        nonlocal done
        node = session.node(nid)
        sid = _sid(session, node)
        out, held = _node_out(session, node, sid, parent_sid, prompt)
        gen = out.get("generation")
        if node_id is not None and isinstance(gen, dict) and isinstance(gen.get("id"), str) and gen["id"] in heads:
            refs.add(gen["id"])
        if elided and isinstance(gen, dict) and gen.get("id") in elided:
            # the path's text: the prompt the import kept as null, as it checked it (at a node whose tokens
            # give a completion of the response back; any other node naming it only if none is exported)
            holds = held is not None and held[3] is None
            if gen["id"] not in prompt_at or (holds and not prompt_at[gen["id"]][1]):
                prompt_at[gen["id"]] = (spooled(prompt()), holds)
        if held is not None:
            gid, index, comp, fields = held
            g = gens.get(gid)
            if g is None:  # the first node of a response gives its other fields (a kept response has its own)
                tail = (
                    None
                    if fields is None
                    else spooled(
                        "".join(sep + nl(3) + key_text(k, ea) + ": " + val(v, 3) for k, v in fields.items())
                        + nl(2)
                        + "}"
                    )
                )
                g = gens[gid] = _Spooled(tail)
            g.count = max(g.count, index + 1)
            g.where[index] = spooled(
                completion_text(*comp, 4, ea)
                if isinstance(comp, tuple) and indent
                else val(completion_out(*comp) if isinstance(comp, tuple) else comp, 4)
            )
        done += 1
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)
        return out, sid, node.text

    def write_tree(level: int) -> None:
        stack: list[_Open] = []

        def start(out: dict[str, Any], sid: str, text: str, lvl: int, after: dict[str, Any], kids: list[int]) -> None:
            tail = open_node(out, lvl, after)
            if not kids:
                sink.write("[]" + tail + nl(lvl) + "}")
            else:
                sink.write("[")
                stack.append(_Open(iter(kids), lvl, sid, tail))
                path.append(text)
                ends.append((ends[-1] if ends else 0) + len(text))

        if multi:
            root: dict[str, Any] = {"id": root_sid, "text": "", "mutable": False, "visited": True, "children": []}
            start(root, root_sid, "", level, {}, tops)
        else:
            out, sid, text = node_out(tops[0], None)
            start(out, sid, text, level, {}, session.child_ids(tops[0]))
        while stack:
            fr = stack[-1]
            kid = next(fr.kids, None)
            if kid is None:
                stack.pop()
                path.pop()
                ends.pop()
                sink.write(nl(fr.level + 1) + "]" + fr.tail + nl(fr.level) + "}")
                continue
            sink.write(("" if fr.first else sep) + nl(fr.level + 2))
            fr.first = False
            if multi and fr.level == level:  # a top under the made-up root: its parent_id comes after its children
                out, sid, text = node_out(kid, None)
                after = {"parent_id": root_sid}
            else:
                out, sid, text = node_out(kid, fr.sid)
                after = {}
            start(out, sid, text, fr.level + 2, after, session.child_ids(kid))

    placeholder: dict[str, Any] = {
        "text": "",
        "tokens": [],
        "finishReason": None,
    }  # siblings of a response left out of this export

    def completions(gid: str, kept: list[Any]) -> str:
        g = gens.get(gid)
        n = max(len(kept), g.count if g else 0)
        items = [
            unspool(g.where[i])
            if g and i in g.where
            else val(kept[i] if i < len(kept) and kept[i] is not None else placeholder, 4)
            for i in range(n)
        ]
        return (
            "[" + "".join(("" if i == 0 else sep) + nl(4) + t for i, t in enumerate(items)) + nl(3) + "]"
            if items
            else "[]"
        )

    def path_prompt(gid: str, value: Any) -> Any:
        if gid in prompt_at and isinstance(value, dict):
            return {**value, "text": unspool(prompt_at[gid][0])}
        return value

    def response(gid: str) -> str:
        head = heads.get(gid)
        if isinstance(head, dict) and isinstance(head.get("completions"), list):  # as the file had it, in its order
            return (
                "{"
                + "".join(
                    ("" if i == 0 else sep)
                    + nl(3)
                    + key_text(k, ea)
                    + ": "
                    + (
                        completions(gid, v)
                        if k == "completions"
                        else val(path_prompt(gid, v) if k == "prompt" else v, 3)
                    )
                    for i, (k, v) in enumerate(head.items())
                )
                + nl(2)
                + "}"
            )
        if gid not in gens:
            return val(head, 2)
        tail = gens[gid].tail
        return "{" + nl(3) + '"completions": ' + completions(gid, []) + (unspool(tail) if tail else nl(2) + "}")

    sink.write("{")
    for i, k in enumerate(keys):
        sink.write(("" if i == 0 else sep) + nl(1) + key_text(k, ea) + ": ")
        if k == "root":
            write_tree(1)
        elif k == "model_responses":
            order = [g for g in heads if node_id is None or g in refs] + [g for g in gens if g not in heads]
            if not order:
                sink.write("{}")
                continue
            sink.write("{")
            for j, gid in enumerate(order):
                sink.write(("" if j == 0 else sep) + nl(2) + key_text(gid, ea) + ": " + response(gid))
            sink.write(nl(1) + "}")
        elif k == "selected_node_id":
            sink.write(val(selected, 1))
        else:
            sink.write(val(state[k] if k in state else defaults[k], 1))
    sink.write(nl(0) + "}")
    spool.close()
    return total
