"""The block multiverse, expanded on a model: exact sequence probabilities of
the most likely continuations, column by column."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..analysis.multiverse import MAX_COLUMN, Block, Multiverse, MultiverseError, check_settings, keep
from ..backends.base import Backend, Prompt
from ..store import Session
from ..tree import Context, Distribution, Token
from .base import Cancel, Counter, ProgressFn, Result, store
from .context import path_context


@dataclass
class MultiverseResult(Result):
    kind = "multiverse"

    node_id: int
    view: Multiverse
    model: dict[str, Any]  # the backend's identity
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node_id, **self.view.to_dict(), "model_id": self.model, "record": self.record}

    def rows(self) -> list[dict[str, Any]]:
        """One row per block, depth first: its token, the probability of the whole
        sequence up to it (absolute, and relative to the zoomed prefix), the
        step's conditional probability and the sequence's text."""
        v = self.view
        return [
            {
                "node": self.node_id,
                "depth": b.depth,
                "token_id": b.token_id,
                "text": b.text,
                "prob": v.absolute_prob(b),
                "prob_in_view": b.prob,
                "cond_prob": b.cond_prob,
                "seq_logprob": b.seq_logprob,
                "terminal": b.terminal,
                "sequence": b.path_text(),
            }
            for b in v.walk()
        ]


def multiverse(
    session: Session,
    backend: Backend,
    node_id: int,
    depth: int = 3,
    k: int = 5,
    mass: float | None = None,
    *,
    prefix: list[Token] | tuple[Token, ...] = (),
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: Cancel | None = None,
) -> MultiverseResult:
    """The block multiverse after `node_id` (zoomed into `prefix`), from the
    path's token ids; stored as a "multiverse" record with `save`. `progress`
    counts columns; `cancel` stops between columns, keeping what is expanded."""
    count = Counter(progress, depth, "columns")
    view = expand(
        backend,
        path_context(session, node_id),
        depth,
        k,
        mass,
        prefix=prefix,
        progress=lambda done, total: count.step(done - count.done),
        cancel=cancel,
    )
    result = MultiverseResult(node_id, view, backend.identity())
    if save:
        keep_record(session, result)
    return result


def keep_record(session: Session, result: MultiverseResult) -> int | None:
    """Store a view (one the app exported, say) as a "multiverse" record."""
    v = result.view
    return store(
        session,
        result,
        result.node_id,
        {
            "model": result.model,
            "depth": v.depth,
            "k": v.k,
            "mass": v.mass,
            "prefix_ids": [t.token_id for t in v.prefix],
        },
    )


def _eos_id(backend: Backend) -> int | None:
    tok = getattr(backend, "tokenizer", None)
    return getattr(tok, "eos_token_id", None)


BatchedFn = Callable[[Prompt, list[list[int]], int], list[Distribution]]


def _ids(blocks: list[Block]) -> list[int]:
    """A block path's token ids (a model that gives exact distributions names every token's id)."""
    ids = [b.token_id for b in blocks if b.token_id is not None]
    if len(ids) != len(blocks):
        raise MultiverseError("a block has no token id, so its continuation cannot be given as ids")
    return ids


def expand(
    backend: Backend,
    prompt: Prompt,
    depth: int = 3,
    k: int = 5,
    mass: float | None = None,
    prefix: list[Token] | tuple[Token, ...] = (),
    progress: Callable[[int, int], None] | None = None,
    cancel: Cancel | None = None,
) -> Multiverse:
    """Expand the continuations of `prompt` (then `prefix`, the path of a
    zoomed block) to `depth` tokens. `progress(done_depth, depth)` is called
    after each column; `cancel` (a threading.Event) stops between columns,
    keeping what is expanded."""
    check_settings(depth, k, mass)
    prefix = tuple(prefix)
    eos = _eos_id(backend)
    # exact distributions after token ids, batched: a local model's (see LocalBackend.next_token_distributions)
    batched: BatchedFn | None = getattr(backend, "next_token_distributions", None)
    base_ids = [t.token_id for t in prefix if t.token_id is not None]
    exact = batched is not None and len(base_ids) == len(prefix)
    context = Context.of(prompt)
    base_text = context.text + "".join(t.text for t in prefix)

    def distributions(frontier: list[Block | None]) -> list[Distribution]:
        if exact and batched is not None:
            conts = [base_ids + (_ids(f.path()) if f else []) for f in frontier]
            return batched(context, conts, k)
        return [backend.next_token_distribution(base_text + (f.path_text() if f else ""), k) for f in frontier]

    root_dist = distributions([None])[0]
    view = Multiverse(
        prompt=context.text,
        context=context,
        blocks=[],
        depth=depth,
        k=k,
        mass=mass,
        model=backend.name,
        prefix=prefix,
        prefix_logprob=math.fsum(t.logprob or 0.0 for t in prefix),
        entropy_bits=root_dist.entropy_bits,
    )
    frontier: list[Block | None] = [None]
    dists = [root_dist]
    for d in range(1, depth + 1):
        nxt: list[Block] = []
        for parent, dist in zip(frontier, dists):
            if parent is not None:
                parent.entropy_bits = dist.entropy_bits
            for alt in keep(dist, k, mass):
                # Without token ids (API backends) a token's text can be one
                # piece of a character; it still counts as one block.
                block = Block(
                    text=alt.text,
                    token_id=alt.token_id,
                    logprob=alt.logprob,
                    seq_logprob=(parent.seq_logprob if parent else 0.0) + alt.logprob,
                    depth=d,
                    parent=parent,
                    terminal=eos is not None and alt.token_id == eos,
                )
                if block.terminal:
                    block.text = ""
                (parent.children if parent else view.blocks).append(block)
                if not block.terminal:
                    nxt.append(block)
        if progress:
            progress(d, depth)
        if d == depth or not nxt or (cancel is not None and cancel.is_set()):
            view.depth = d
            break
        if len(nxt) > MAX_COLUMN:
            raise MultiverseError(
                f"depth {d + 1} would need {len(nxt)} model calls in one column (limit {MAX_COLUMN}); "
                "lower k or depth, or set a probability-mass cut-off"
            )
        frontier, dists = list(nxt), distributions(list(nxt))
    return view


def zoom(backend: Backend, view: Multiverse, block: Block, depth: int | None = None, **kwargs: Any) -> Multiverse:
    """A new view rooted at the end of `block`: its continuations expanded to
    `depth` and heights renormalised to that branch (the block is 1 there)."""
    return expand(
        backend,
        view.context or view.prompt,
        depth or view.depth,
        view.k,
        view.mass,
        prefix=(*view.prefix, *block.tokens()),
        **kwargs,
    )


def zoom_out(backend: Backend, view: Multiverse, depth: int | None = None, **kwargs: Any) -> Multiverse:
    """The view one token up (its parent's continuations), or the same root at the node."""
    return expand(
        backend, view.context or view.prompt, depth or view.depth, view.k, view.mass, prefix=view.prefix[:-1], **kwargs
    )


def add_branch(session: Any, node_id: int, view: Multiverse, block: Block) -> Any:
    """Turn a block into a real child of `node_id`: the zoom prefix and the
    block's path as the node's tokens, with their raw log-probabilities."""
    tokens = [*view.prefix, *block.tokens()]
    if not "".join(t.text for t in tokens):
        raise MultiverseError("this block is the end of the text: there is nothing to add as a branch")
    return session.add_node(
        node_id,
        "".join(t.text for t in tokens),
        "model",
        model=view.model,
        tokens=tokens,
        meta={"multiverse": {"depth": view.depth, "k": view.k, "mass": view.mass, "prob": view.absolute_prob(block)}},
    )
