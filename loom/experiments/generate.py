"""The one path from a model to the tree: run a backend, stream its events to a
listener, and commit each branch as a node the moment it is finished.

Used by the app (in a worker thread) and by the headless CLI alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, Prompt
from ..store import Session
from ..tree import Alternative, BranchDone, GenerationParams, Node, Notice, Token, TokenEvent
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
) -> GenerationResult:
    """Generate `params.n` children of `parent_id`.

    Each finished branch is committed at once (so a crash loses at most the
    branches still running). A branch cut short by `cancel` is kept, marked
    incomplete, if it has any token. `listener` receives every backend event,
    then ("node", branch, Node) after each commit; `progress` counts finished branches.

    The model continues the path's context as token ids (see experiments.context),
    unless `prompt` gives another; how it got the context is kept in each node's
    meta["context"]."""
    params.validate()
    backend.refuse_unsupported(params)  # a setting the model source cannot honour is refused before anything is sent
    context = path_context(session, parent_id) if prompt is None else prompt
    form = backend.context_form(context)
    identity = backend.identity()
    tokens: dict[int, list[Token]] = {}
    result = GenerationResult()
    count = Counter(progress, params.n * params.max_tokens, "tokens")
    for event in backend.generate(context, params, cancel):
        if isinstance(event, TokenEvent):
            tokens.setdefault(event.branch, []).append(event.token)
            count.step()
        elif isinstance(event, Notice):
            result.notices.append(event.text)
        if listener:
            listener(event)
        if isinstance(event, BranchDone):
            toks = tokens.pop(event.branch, [])
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
                params={**params.to_dict(), "seed": event.seed, "model": backend.name, "model_id": identity},
                tokens=toks,
                complete=not broken,
                meta={"finish": event.reason, "context": form, **(meta or {})},
            )
            result.nodes.append(node)
            if listener:
                listener(("node", event.branch, node))
    return result


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
