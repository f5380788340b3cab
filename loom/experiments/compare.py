"""Compare two nodes: align what the paths to them say after they part in
the tree, and count where they diverge and reconverge (see analysis.align)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..analysis.align import Alignment, Piece, align, pieces_from_text
from ..store import Session
from ..tree import GenerationParams, Node
from .base import Cancel, Result
from .models import open_model
from .replay import Listener, ReplayError, continuation_to_replay, edited_node, replay


def _derivation_root(session: Session, node: Node) -> int:
    seen = set()
    while node.derived_from is not None and node.id not in seen:
        seen.add(node.id)
        node = session.node(node.derived_from)
    return node.id


def _pieces(nodes: list[Node]) -> list[Piece]:
    out: list[Piece] = []
    for n in nodes:
        if n.tokens:
            out += [Piece(t.text, t.prob, n.id) for t in n.tokens]
        else:
            out += pieces_from_text(n.text, n.id)
    return out


@dataclass
class Comparison(Result):
    kind = "compare"

    a: int
    b: int
    a_nodes: list[int]  # the nodes whose text was compared, root-most first
    b_nodes: list[int]
    perturbation: tuple[int, int] | None  # (a's node, b's node): two versions of one node, left out
    a_pieces: list[Piece]
    b_pieces: list[Piece]
    alignment: Alignment
    record: int | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per unit (token or word) of each side: whether it is in a run
        the two sides share, and its probability where a model gave one."""
        out = []
        for side, pieces, spans in (
            ("a", self.a_pieces, self.alignment.a_spans),
            ("b", self.b_pieces, self.alignment.b_spans),
        ):
            pos = 0
            for i, pc in enumerate(pieces):
                shared = any(lo <= pos < hi for lo, hi in spans)
                out.append(
                    {"side": side, "index": i, "node": pc.node_id, "prob": pc.prob, "shared": shared, "text": pc.text}
                )
                pos += len(pc.text)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "a_nodes": self.a_nodes,
            "b_nodes": self.b_nodes,
            "perturbation": list(self.perturbation) if self.perturbation else None,
            "a_text": "".join(p.text for p in self.a_pieces),
            "b_text": "".join(p.text for p in self.b_pieces),
            **self.alignment.to_dict(),
        }


def compare_nodes(
    session: Session, a: int, b: int, k: int = 4, level: str = "auto", include_edit: bool = False
) -> Comparison:
    """Compare what the paths to `a` and `b` say after they part in the tree.

    The compared text of each side runs from below their lowest common ancestor
    to the node. When the first nodes of the two sides are versions of one node
    (an original and its edit, or two edits of one original), that pair is the
    perturbation itself and is left out unless `include_edit`: the question is
    whether what came *after* it reconverged."""
    if a == b:
        raise ReplayError(f"compare needs two different nodes (got {a} twice)")
    path_a, path_b = session.path_nodes(a), session.path_nodes(b)
    shared = 0
    while shared < min(len(path_a), len(path_b)) and path_a[shared].id == path_b[shared].id:
        shared += 1
    seg_a, seg_b = path_a[shared:], path_b[shared:]
    if not seg_a or not seg_b:
        upper, lower = (a, b) if not seg_a else (b, a)
        raise ReplayError(f"node {upper} is on the path to node {lower}; pick two nodes on different branches")
    perturbation = None
    if (
        not include_edit
        and len(seg_a) > 1
        and len(seg_b) > 1
        and _derivation_root(session, seg_a[0]) == _derivation_root(session, seg_b[0])
    ):
        perturbation = (seg_a[0].id, seg_b[0].id)
        seg_a, seg_b = seg_a[1:], seg_b[1:]
    pa, pb = _pieces(seg_a), _pieces(seg_b)
    return Comparison(a, b, [n.id for n in seg_a], [n.id for n in seg_b], perturbation, pa, pb, align(pa, pb, k, level))


def store_comparison(session: Session, comp: Comparison, **params: Any) -> int:
    """Keep the comparison as a "compare" record (its id is also set on `comp`)."""
    comp.record = session.add_record(
        comp.kind, comp.a, {"k": comp.alignment.k, "level": comp.alignment.level, **params}, comp.to_dict(), comp.b
    )
    return comp.record


def from_record(session: Session, rec: dict[str, Any]) -> Comparison:
    """A stored comparison, rebuilt exactly from its node ids and settings (nodes never change)."""
    p = rec["params"] or {}
    comp = compare_nodes(
        session, rec["node_id"], rec["other_id"], p.get("k", 4), p.get("level", "auto"), p.get("include_edit", False)
    )
    comp.record = rec["id"]
    return comp


@dataclass
class ReplayComparison(Result):
    """An edit's replay and its comparison with the original continuation."""

    kind = "compare"

    edited: Node
    original: Node  # the node the edit was derived from
    original_child: Node  # the original's continuation that was replayed
    replay: Node
    params: GenerationParams
    comparison: Comparison
    notices: list[str] = field(default_factory=list)

    @property
    def record(self) -> int | None:  # type: ignore[override]
        return self.comparison.record

    def to_dict(self) -> dict[str, Any]:
        return {
            "edited": self.edited.id,
            "original": self.original.id,
            "original_child": self.original_child.id,
            "replay": self.replay.to_dict(),
            "params": self.params.to_dict(),
            "comparison": {**self.comparison.to_dict(), "record": self.comparison.record},
        }

    def rows(self) -> list[dict[str, Any]]:
        return self.comparison.rows()


def replay_and_compare(
    session: Session,
    node_id: int,
    *,
    original_child: int | None = None,
    run: int = 4,
    level: str = "auto",
    include_edit: bool = False,
    cancel: Cancel | None = None,
    listener: Listener | None = None,
) -> ReplayComparison:
    """Regenerate below the edit at (or above) `node_id` with the model, settings,
    stopping rule and seed of the original's continuation (that model is opened
    here, whichever model the caller has), compare the two continuations and
    store the comparison as a "compare" record."""
    edited = edited_node(session, node_id)
    chosen = continuation_to_replay(session, edited, original_child)
    if not chosen.model:
        raise ReplayError(f"node {chosen.id} does not say which model wrote it; it cannot be replayed")
    res = replay(
        session, open_model(chosen.model), edited.id, original_child=chosen.id, cancel=cancel, listener=listener
    )
    if res.replay is None:
        raise ReplayError(
            "the replay made no tokens" + (" (cancelled)" if cancel is not None and cancel.is_set() else "")
        )
    comp = compare_nodes(session, res.original_child.id, res.replay.id, run, level, include_edit)
    store_comparison(session, comp, include_edit=include_edit, replay=True)
    return ReplayComparison(res.edited, res.original, res.original_child, res.replay, res.params, comp, res.notices)
