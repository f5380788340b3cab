"""The one path from a model to the tree: run a backend, pass its events to a
listener, and commit each finished branch as a node (at once while a person
watches, else in batches of a fraction of a second).

Used by the app (in a worker thread) and by the headless CLI alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, Prompt
from ..store import Session
from ..tree import Alternative, BranchDone, GenerationParams, Node, Notice, Token, TokenEvent, TokensEvent
from .base import Counter, ProgressFn
from .context import path_context


@dataclass
class GenerationResult:
    nodes: list[Node] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False


Listener = Callable[[object], None]


def generate_children(
    session: Session,
    backend: Backend,
    parent_id: int,
    params: GenerationParams,
    *,
    cancel: threading.Event | None = None,
    listener: Listener | None = None,
    prompt: Prompt | None = None,
    meta: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    live: bool = False,
) -> GenerationResult:
    """Generate `params.n` children of `parent_id`.

    `live`: a person watches the tokens arrive (the app), so a server streams
    them and each branch is committed the moment it is finished. Otherwise
    branches are committed in batches (Session.batched: within a fraction of a
    second, and all of them before this returns), and a server sends whole
    replies. Either way a kill loses at most the branches not yet committed
    and never leaves half a node. A branch cut short by `cancel` is kept,
    marked incomplete, if it has any token. `listener` receives every backend
    event, then ("node", branch, Node) after each node is added; `progress`
    counts tokens.

    The model continues the path's context as token ids (see experiments.context),
    unless `prompt` gives another; how it got the context (and, for a local model,
    the window of it the model saw) is kept in each node's meta["context"]."""
    return generate_sets(
        session,
        backend,
        parent_id,
        [(params, meta)],
        cancel=cancel,
        listener=listener,
        prompt=prompt,
        progress=progress,
        live=live,
    )[0]


def generate_sets(
    session: Session,
    backend: Backend,
    parent_id: int,
    sets: list[tuple[GenerationParams, dict[str, Any] | None]],
    *,
    cancel: threading.Event | None = None,
    listener: Listener | None = None,
    prompt: Prompt | None = None,
    progress: ProgressFn | None = None,
    live: bool = False,
    on_node: Callable[[int, Node], None] | None = None,
) -> list[GenerationResult]:
    """Children of `parent_id` for several settings at once (a report's temperatures):
    a server gets the requests of all of them together (Backend.generate_many), a
    local model runs them one after another. One result per (settings, meta) item,
    as generate_children gives; the listener's events do not say which item they
    belong to (branch numbers repeat across items). `on_node(item, node)`, when
    given, receives each node in place of the results' `nodes` lists, so that
    thousands of nodes and their tokens are not all held at once."""
    for params, _meta in sets:
        params.validate()
        # a setting the model source cannot honour is refused before anything is sent
        backend.refuse_unsupported(params)
    context = path_context(session, parent_id) if prompt is None else prompt
    form = backend.context_form(context)
    forms = []  # each item's: which of the context's tokens the model saw depends on max_tokens
    for params, _meta in sets:
        window = backend.context_window(context, params.max_tokens)
        forms.append(form if window is None else {**form, "window": window})
    identity = backend.identity()
    tokens: dict[tuple[int, int], list[Token]] = {}
    results = [GenerationResult() for _ in sets]
    count = Counter(progress, sum(p.n * p.max_tokens for p, _ in sets), "tokens")
    recorded = [{**p.to_dict(), "model": backend.name, "model_id": identity} for p, _ in sets]  # once per item
    batched = nullcontext(session) if live else session.batched()
    with batched:
        for item, event in backend.generate_many([(context, p) for p, _ in sets], cancel, live=live):
            result = results[item]
            if isinstance(event, TokenEvent):
                tokens.setdefault((item, event.branch), []).append(event.token)
                count.step()
            elif isinstance(event, TokensEvent):
                tokens.setdefault((item, event.branch), []).extend(event.tokens)
                count.step(len(event.tokens))
            elif isinstance(event, Notice):
                result.notices.append(event.text)
            if listener:
                listener(event)
            if not isinstance(event, BranchDone):
                continue
            params, meta = sets[item]
            toks = tokens.pop((item, event.branch), [])
            cancelled = event.reason == "cancelled"
            result.cancelled |= cancelled
            # a branch cut off by a fault ("error") is kept like a cancelled one: incomplete
            broken = cancelled or event.reason == "error"
            count.step(max(0, params.max_tokens - len(toks)))
            if not toks:
                continue
            node = session.add_node(
                parent_id,
                "".join(t.text for t in toks),
                "model",
                model=backend.name,
                params={**recorded[item], "seed": event.seed},
                tokens=toks,
                complete=not broken,
                meta={"finish": event.reason, "context": forms[item], **(meta or {})},
            )
            if on_node is not None:
                on_node(item, node)
            else:
                result.nodes.append(node)
            if listener:
                listener(("node", event.branch, node))
    return results


def fork_at_token(session: Session, node: Node, index: int, alternative: Alternative) -> Node:
    """A new sibling of `node` that keeps its tokens before `index` and puts
    `alternative` at `index`; marked as derived from `node`."""
    if not node.tokens or not 0 <= index < len(node.tokens):
        raise ValueError(f"node {node.id} has no token {index}")
    old = node.tokens[index]
    toks = [
        *node.tokens[:index],
        Token(alternative.text, alternative.logprob, alternative.token_id, old.alternatives, old.raw),
    ]
    return session.add_node(
        node.parent_id,
        "".join(t.text for t in toks),
        node.author if node.author == "model" else "edit",
        derived_from=node.id,
        model=node.model,
        params=node.params,
        tokens=toks,
        meta={"fork": {"from": node.id, "token": index, "was": old.text}},
    )


def edit_node(session: Session, node: Node, text: str, meta: dict[str, Any] | None = None) -> Node:
    """Save an edit as a new sibling derived from `node`; the original stays.
    `meta` says what changed (a headless edit records its replacement there)."""
    author = "prompt" if node.parent_id is None else "edit"
    return session.add_node(node.parent_id, text, author, derived_from=node.id, meta=meta)
