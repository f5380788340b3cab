"""Perturb, regenerate "like the original", and measure reconvergence.

- replay(): from a node made by an edit (it has `derived_from`), generate one
  child with the original continuation's model, parameters, token count and
  recorded seed, so the two continuations are directly comparable.
- sample_continuations(): N continuations for an attractor report, kept as
  nodes or only inside the report record.

Comparing the two continuations is experiments.compare; k perturbations each
replayed and compared is experiments.sweep; the report is experiments.report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..analysis.report import Sample
from ..backends.base import Backend
from ..store import Session
from ..tree import BranchDone, GenerationParams, LoomError, Node, Notice, Token, TokenEvent
from .context import path_context
from .generate import generate_children

Listener = Callable[[object], None]


class ReplayError(LoomError, ValueError):
    """A replay, comparison or sweep cannot be done; the message says why."""


# -- replay ------------------------------------------------------------------


def edited_node(session: Session, node_id: int) -> Node:
    """`node_id` itself if it was derived from an original, else its nearest
    ancestor that was (so replay works from anywhere below an edit)."""
    for nid in reversed(session.ancestry(node_id)):
        node = session.node(nid)
        if node.derived_from is not None:
            return node
    raise ReplayError(
        f"node {node_id} was not made by an edit, and neither was any node above it: edit a node first, "
        "then replay the edit to see whether it comes back to the original's continuation"
    )


def original_id(edited: Node) -> int:
    """The id of the node `edited` was derived from (an edited_node() always has one)."""
    if edited.derived_from is None:
        raise ReplayError(f"node {edited.id} was not made by an edit: it has no original to replay")
    return edited.derived_from


def original_continuations(session: Session, original_id: int) -> list[Node]:
    """The original's model-written children, oldest first: the candidates to replay."""
    return [c for c in session.children(original_id, with_tokens=True) if c.author == "model" and c.tokens and c.params]


def replay_params(original_child: Node) -> GenerationParams:
    """The parameters that regenerate `original_child` alone: n=1, its own
    recorded seed, and its own stopping rule: an original that ended by itself
    (end-of-text or a stop string) lets the replay run to the same token limit,
    so the replay too can end where the model ends it; one cut by the limit (or
    with no recorded finish) gives the replay as many tokens as it has."""
    if not original_child.params or not original_child.tokens:
        raise ReplayError(
            f"node {original_child.id} was not written by a model with recorded parameters; it cannot be replayed"
        )
    params = GenerationParams.from_dict(original_child.params)
    if params.seed is None:
        raise ReplayError(f"node {original_child.id} has no recorded seed; it cannot be replayed exactly")
    ended_itself = (original_child.meta or {}).get("finish") in ("eos", "stop")
    limit = params.max_tokens if ended_itself else len(original_child.tokens)
    return params.replace(n=1, max_tokens=limit).validate()


def continuation_to_replay(session: Session, edited: Node, original_child: int | None = None) -> Node:
    """The original's continuation that a replay of `edited` regenerates:
    `original_child` when given (it must be one), else the first."""
    original = original_id(edited)
    candidates = original_continuations(session, original)
    if original_child is not None:
        chosen = next((c for c in candidates if c.id == original_child), None)
        if chosen is None:
            raise ReplayError(
                f"node {original_child} is not a model-written child of node {original} (the original of {edited.id})"
            )
        return chosen
    if not candidates:
        raise ReplayError(
            f"node {original} (the original of edit {edited.id}) has no model continuation to replay; "
            f"generate from node {original} first"
        )
    return candidates[0]


@dataclass
class ReplayResult:
    edited: Node
    original: Node  # the node the edit was derived from
    original_child: Node  # the original's continuation that was replayed
    replay: Node | None  # None when cancelled before any token
    params: GenerationParams
    notices: list[str] = field(default_factory=list)


def replay(
    session: Session,
    backend: Backend,
    node_id: int,
    *,
    original_child: int | None = None,
    cancel: threading.Event | None = None,
    listener: Listener | None = None,
    meta: dict[str, Any] | None = None,
) -> ReplayResult:
    """Regenerate below the edit at or above `node_id` like the original did.

    `original_child` picks which continuation of the original to replay
    (default: its first model-written child)."""
    edited = edited_node(session, node_id)
    original = session.node(original_id(edited))
    chosen = continuation_to_replay(session, edited, original_child)
    if chosen.model != backend.name:
        raise ReplayError(
            f"node {chosen.id} was written by model {chosen.model!r}, not {backend.name!r}; open that model to replay it"
        )
    params = replay_params(chosen)
    result = generate_children(
        session,
        backend,
        edited.id,
        params,
        cancel=cancel,
        listener=listener,
        meta={"replay": {"of": chosen.id, "original": original.id}, **(meta or {})},
    )
    return ReplayResult(edited, original, chosen, result.nodes[0] if result.nodes else None, params, result.notices)


# -- samples for a report ----------------------------------------------------

KEEP = ("nodes", "record")


def sample_continuations(
    session: Session,
    backend: Backend,
    node_id: int,
    params: GenerationParams,
    *,
    temperatures: list[float] | None = None,
    keep: str = "nodes",
    cancel: threading.Event | None = None,
    listener: Listener | None = None,
) -> tuple[list[Sample], list[str]]:
    """`params.n` continuations of `node_id` at each temperature (one batched
    call per temperature). keep='nodes' commits them as real branches;
    keep='record' keeps them only in the returned samples (for the report record)."""
    if keep not in KEEP:
        raise ReplayError(f"keep samples as one of {', '.join(KEEP)} (got {keep!r})")
    params.validate()
    backend.refuse_unsupported(params)
    temps = list(temperatures) if temperatures else [params.temperature]
    prompt = path_context(session, node_id)  # the path as the ids the model wrote
    samples: list[Sample] = []
    notices: list[str] = []
    for t in temps:
        if cancel is not None and cancel.is_set():
            break
        p = params.replace(temperature=t).validate()
        if keep == "nodes":
            res = generate_children(
                session,
                backend,
                node_id,
                p,
                cancel=cancel,
                listener=listener,
                prompt=prompt,
                meta={"sample": {"temperature": t}},
            )
            notices += [n for n in res.notices if n not in notices]
            samples += [
                Sample(
                    n.text,
                    [tk.logprob for tk in n.tokens or () if tk.logprob is not None],
                    t,
                    n.id,
                    (n.params or {}).get("seed"),
                )
                for n in res.nodes
                if n.complete
            ]
            continue
        toks: dict[int, list[Token]] = {}
        for event in backend.generate(prompt, p, cancel):
            if listener:
                listener(event)
            if isinstance(event, TokenEvent):
                toks.setdefault(event.branch, []).append(event.token)
            elif isinstance(event, Notice) and event.text not in notices:
                notices.append(event.text)
            elif isinstance(event, BranchDone) and event.reason not in ("cancelled", "error"):
                got = toks.pop(event.branch, [])
                samples.append(
                    Sample(
                        "".join(tk.text for tk in got),
                        [tk.logprob for tk in got if tk.logprob is not None],
                        t,
                        None,
                        event.seed,
                    )
                )
    return samples, notices


def samples_from_children(session: Session, node_id: int) -> list[Sample]:
    """The node's existing model-written children as samples (no generation)."""
    out = []
    for c in session.children(node_id, with_tokens=True):
        if c.author != "model" or not c.complete:
            continue
        out.append(
            Sample(
                c.text,
                [t.logprob for t in c.tokens or () if t.logprob is not None],
                (c.params or {}).get("temperature"),
                c.id,
                (c.params or {}).get("seed"),
            )
        )
    return out
