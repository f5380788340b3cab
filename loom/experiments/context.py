"""The context a model sees at a node: the path from the root as token ids
where a model wrote them, text where a person did (tokenised once, where it sits)."""

from __future__ import annotations

from ..store import Session
from ..tree import Context, Segment, node_segment


def path_context(session: Session, node_id: int) -> Context:
    """The context after `node_id`: every node from the root down to it, as
    node_segment gives it (its sampled ids where a model wrote it, else its
    text), read without decoding the nodes' alternatives."""
    return Context(
        tuple(
            Segment(text, ids, model, nid) if ids and model else Segment(text, None, None, nid)
            for nid, text, model, ids in session.path_ids(node_id)
        )
    )


def token_context(session: Session, node_id: int, index: int) -> Context:
    """The context the model had when it sampled token `index` of `node_id`:
    the path above the node, then the node's own tokens before `index`."""
    node = session.node(node_id)
    toks = node.tokens or []
    if not 0 <= index < len(toks):
        raise ValueError(f"node {node_id} has {len(toks)} tokens; the token index must be from 0 to {len(toks) - 1}")
    above = path_context(session, node.parent_id) if node.parent_id is not None else Context()
    return above.plus(node_segment(node, upto=index))
