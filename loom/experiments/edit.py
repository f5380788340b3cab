"""Perturbations by hand, headless: a node's text edited (all of it, or a
substring replaced), or a fork at one of its tokens with a stored alternative.
Either makes a new sibling derived from the original (which stays, so the two
branches can be compared), and can be continued at once: a perturb-and-
regenerate experiment is one call.

Everything is checked before anything is stored: a bad node, token or
alternative, a bad setting, or a model that cannot honour a setting raises a
LoomError (EditError, ParamError, BackendError) and the session is unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend
from ..store import Session
from ..tree import Alternative, GenerationParams, LoomError, Node
from .base import Cancel, ProgressFn, Result
from .generate import edit_node, fork_at_token, generate_children


class EditError(LoomError, ValueError):
    """A perturbation cannot be made as asked; the message says why. Nothing was stored."""


@dataclass
class Perturbation(Result):
    """The node an edit or a fork made, and what was generated from it.

    Not stored as a record: the new node itself holds what it came from
    (`derived_from`) and what changed (its meta["edit"] or meta["fork"])."""

    kind = "perturbation"

    how: str  # "edit" or "fork"
    source: int  # the node it was derived from (kept)
    node: Node  # the new node
    change: dict[str, Any]
    generated: list[Node] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.node.id,
            "how": self.how,
            "from": self.source,
            "parent": self.node.parent_id,
            "change": self.change,
            "node": _node_dict(self.node),
            "generated": [_node_dict(n) for n in self.generated],
            "notices": self.notices,
            "cancelled": self.cancelled,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row for the new node, then one per continuation generated from it."""
        return [
            {
                "role": "perturbed" if n is self.node else "continuation",
                "node": n.id,
                "parent": n.parent_id,
                "from": self.source,
                "how": self.how,
                "tokens": len(n.tokens or ()),
                "mean_logprob": _mean_logprob(n),
                "mean_prob": n.mean_prob,
                "seed": (n.params or {}).get("seed"),
                "text": n.text,
            }
            for n in [self.node, *self.generated]
        ]


def _mean_logprob(node: Node) -> float | None:
    lps = [t.logprob for t in node.tokens or () if t.logprob is not None]
    return sum(lps) / len(lps) if lps else None


def _node_dict(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent": node.parent_id,
        "author": node.author,
        "text": node.text,
        "derived_from": node.derived_from,
        "model": node.model,
        "params": node.params,
        "complete": node.complete,
        "mean_prob": node.mean_prob,
        "meta": node.meta,
    }


# -- checking what is asked, before anything is stored -------------------------------
def edited_text(
    node: Node, text: str | None = None, replace: tuple[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """The node's new text and what changed: `text` in place of all of it, or
    every occurrence of replace[0] made replace[1]."""
    if (text is None) == (replace is None):
        raise EditError("give the new text, or a substring to replace and what to put in its place (not both)")
    if replace is not None:
        old, new = replace
        if not old:
            raise EditError("the text to replace is empty")
        count = node.text.count(old)
        if not count:
            raise EditError(f"node {node.id} does not contain {old!r}; its text starts {node.text[:60]!r}")
        text, change = node.text.replace(old, new), {"replace": old, "with": new, "count": count}
    else:
        change = {"text": text}
    if not text:
        raise EditError(f"the edit of node {node.id} would leave it empty; a node needs some text")
    return text, change


def token_alternative(
    node: Node, index: int, text: str | None = None, rank: int | None = None
) -> tuple[Alternative, int]:
    """The stored alternative at token `index` of `node` named by its `text`
    (exactly, the most likely if several) or its `rank` (1 = the most likely),
    and its rank."""
    if (text is None) == (rank is None):
        raise EditError("name the alternative by its text or by its rank (not both)")
    if not node.tokens:
        who = (
            "a prompt"
            if node.author == "prompt"
            else "written by a person"
            if node.author != "model"
            else "stored without tokens"
        )
        raise EditError(f"node {node.id} has no tokens to fork at ({who}); edit its text instead")
    if not 0 <= index < len(node.tokens):
        raise EditError(
            f"node {node.id} has {len(node.tokens)} tokens: token must be from 0 to {len(node.tokens) - 1} "
            f"(got {index})"
        )
    tok = node.tokens[index]
    alts = list(tok.alternatives)
    if not alts:
        raise EditError(
            f"token {index} of node {node.id} ({tok.text!r}) has no stored alternatives "
            "(it was generated with no alternatives per token)"
        )
    if rank is not None:
        if not 1 <= rank <= len(alts):
            raise EditError(
                f"token {index} of node {node.id} has {len(alts)} stored alternatives: rank must be from 1 "
                f"to {len(alts)} (got {rank})"
            )
        return alts[rank - 1], rank
    for i, alt in enumerate(alts, 1):
        if alt.text == text:
            return alt, i
    listed = ", ".join(f"{i} {a.text!r} {a.prob:.1%}" for i, a in enumerate(alts, 1))
    raise EditError(
        f"token {index} of node {node.id} ({tok.text!r}) has no stored alternative {text!r}; "
        f"its alternatives (rank, text, probability): {listed}"
    )


def _ready(backend: Backend | None, params: GenerationParams | None) -> None:
    if backend is not None:
        if params is None:
            raise ValueError("generating from the new node needs its settings")
        params.validate()
        backend.refuse_unsupported(params)


def _continue(
    session: Session,
    result: Perturbation,
    backend: Backend | None,
    params: GenerationParams | None,
    cancel: Cancel | None,
    progress: ProgressFn | None,
) -> Perturbation:
    if backend is not None and params is not None:
        gen = generate_children(session, backend, result.node.id, params, cancel=cancel, progress=progress)
        result.generated, result.notices, result.cancelled = gen.nodes, gen.notices, gen.cancelled
    return result


# -- the two perturbations -------------------------------------------------------------
def edit(
    session: Session,
    node_id: int,
    text: str | None = None,
    *,
    replace: tuple[str, str] | None = None,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    cancel: Cancel | None = None,
    progress: ProgressFn | None = None,
) -> Perturbation:
    """Node `node_id` with its text replaced (`text`), or with every occurrence of
    replace[0] made replace[1], as a new sibling derived from it. With `backend`
    and `params`, `params.n` continuations are generated from the new node."""
    node = session.node(node_id)  # KeyError names a node that does not exist
    new_text, change = edited_text(node, text, replace)
    _ready(backend, params)
    made = edit_node(
        session, node, new_text, meta={"edit": {"from": node.id, **{k: v for k, v in change.items() if k != "text"}}}
    )
    return _continue(session, Perturbation("edit", node.id, made, change), backend, params, cancel, progress)


def fork(
    session: Session,
    node_id: int,
    index: int,
    *,
    text: str | None = None,
    rank: int | None = None,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    cancel: Cancel | None = None,
    progress: ProgressFn | None = None,
) -> Perturbation:
    """A new sibling of node `node_id` that keeps its tokens before `index` and puts
    the stored alternative named by `text` or `rank` (1 = most likely) there. With
    `backend` and `params`, `params.n` continuations are generated from it."""
    node = session.node(node_id)
    alt, rank = token_alternative(node, index, text, rank)
    _ready(backend, params)
    made = fork_at_token(session, node, index, alt)
    was = node.tokens[index]  # type: ignore[index]  # token_alternative checked there is one
    change = {
        "token": index,
        "was": was.text,
        "now": alt.text,
        "rank": rank,
        "logprob": alt.logprob,
        "prob": alt.prob,
        "was_logprob": was.logprob,
    }
    return _continue(session, Perturbation("fork", node.id, made, change), backend, params, cancel, progress)
