"""The perturbation sweep: k automatic perturbations of a node, each a real
branch derived from it, each replayed like the original continuation and
compared with it; stored as a "sweep" record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.perturb import make_perturbations
from ..backends.base import Backend
from ..store import Session
from ..tree import GenerationParams
from .base import Cancel, Counter, ProgressFn, Result, cancelled
from .compare import compare_nodes
from .generate import generate_children
from .replay import ReplayError, original_continuations, replay

#: the columns of every row, so a cancelled item has the same keys as the others
ROW_KEYS = (
    "kind",
    "description",
    "edited",
    "replay",
    "status",
    "reconverged",
    "divergence",
    "reconvergence",
    "reconvergence_fraction",
    "longest_run",
    "shared_ending",
    "last_sentence_similarity",
    "similarity",
    "level",
    "units",
    "text",
)


@dataclass
class SweepResult(Result):
    kind = "sweep"

    node_id: int
    original_child: int
    original_text: str
    run: int
    level: str
    seed: int
    k: int
    kinds: list[str] | None
    phrase: str | None
    items: list[dict[str, Any]]
    summary: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    params: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "original_child": self.original_child,
            "original_text": self.original_text,
            "run": self.run,
            "seed": self.seed,
            "items": self.items,
            "summary": self.summary,
            "notices": self.notices,
            "cancelled": self.cancelled,
            "record": self.record,
        }

    def record_params(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "kinds": self.kinds,
            "phrase": self.phrase,
            "seed": self.seed,
            "run": self.run,
            "level": self.level,
            "params": self.params,
            "model": self.model,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per perturbation; `reconvergence` as two columns (index in the original, in the replay)."""
        out = []
        for i, it in enumerate(self.items):
            row: dict[str, Any] = {"perturbation": i, **{k: it.get(k) for k in ROW_KEYS}}
            rc = row.pop("reconvergence")
            row["reconvergence_a"], row["reconvergence_b"] = (rc[0], rc[1]) if rc else (None, None)
            out.append(row)
        return out

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: one row per perturbation along the original
        continuation, where it diverged and where it reconverged; also written to
        `path` (PNG or SVG by the suffix) when given."""
        return plot_sweep(self.to_dict(), path)


def plot_sweep(result: dict[str, Any], path: str | Path | None = None) -> Any:
    """The figure of a sweep from its to_dict() or its stored record's result."""
    from ..render.figures import sweep_figure

    return sweep_figure(result, path, f"sweep of node {result['node']} against node {result['original_child']}")


def sweep(
    session: Session,
    backend: Backend,
    node_id: int,
    k: int = 6,
    *,
    kinds: list[str] | None = None,
    phrase: str | None = None,
    seed: int = 0,
    params: GenerationParams | None = None,
    original_child: int | None = None,
    run: int = 4,
    level: str = "auto",
    save: bool = True,
    cancel: Cancel | None = None,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Make `k` perturbations of node `node_id`, each a new node derived from
    it, replay each like the original continuation, compare, and summarise.

    The original continuation is `original_child`, else the node's first
    model-written child; if it has none, one is generated with `params`
    (seeded with `seed`). `progress` counts finished perturbations; `cancel`
    stops before the next one. The result is stored as a "sweep" record."""
    node = session.node(node_id)
    perturbations = make_perturbations(node.text, k, kinds, seed, phrase)  # a bad kind stops here, before any work
    notices: list[str] = []
    if original_child is None and not original_continuations(session, node_id):
        base = (params or GenerationParams()).replace(
            n=1, seed=seed if params is None or params.seed is None else params.seed
        )
        made = generate_children(session, backend, node_id, base, cancel=cancel)
        notices += made.notices
        if not made.nodes:
            raise ReplayError(f"node {node_id}: could not generate an original continuation to sweep against")
        notices.append(f"node {node_id} had no model continuation: generated node {made.nodes[0].id} as the original")
        original_child = made.nodes[0].id
    author = "prompt" if node.parent_id is None else "edit"
    items: list[dict[str, Any]] = []
    # the continuation every replay regenerates (as replay() picks it): known before the first, so that a
    # sweep cancelled before any perturbation still names it
    chosen = original_child if original_child is not None else original_continuations(session, node_id)[0].id
    count = Counter(progress, len(perturbations), "perturbations")
    for p in perturbations:
        if cancelled(cancel):
            break
        edited = session.add_node(
            node.parent_id,
            p.text,
            author,
            derived_from=node.id,
            meta={"perturbation": {"kind": p.kind, "description": p.description, "seed": seed}},
        )
        res = replay(session, backend, edited.id, original_child=chosen, cancel=cancel)
        chosen = res.original_child.id
        notices += [n for n in res.notices if n not in notices]
        item = {
            "kind": p.kind,
            "description": p.description,
            "edited": edited.id,
            "replay": res.replay.id if res.replay else None,
        }
        if res.replay is not None:
            comp = compare_nodes(session, chosen, res.replay.id, run, level)
            al = comp.alignment
            item.update(
                {
                    "status": al.status,
                    "reconverged": al.reconverged,
                    "divergence": al.divergence,
                    "reconvergence": list(al.reconvergence) if al.reconvergence else None,
                    "reconvergence_fraction": al.reconvergence[0] / al.len_a if al.reconvergence and al.len_a else None,
                    "longest_run": al.longest_run["size"],
                    "shared_ending": al.shared_ending["size"],
                    "last_sentence_similarity": al.last_sentence_similarity,
                    "similarity": al.similarity,
                    "level": al.level,
                    "units": al.len_a,  # the unit positions count in, the original's length in them
                    "text": "".join(pc.text for pc in comp.b_pieces),
                }
            )
        else:
            item.update({"status": "cancelled", "reconverged": False})
        items.append(item)
        count.step()
    done = [it for it in items if it["status"] != "cancelled"]
    fracs: list[float] = [it["reconvergence_fraction"] for it in done if it.get("reconvergence_fraction") is not None]
    similarities: list[float] = [it["last_sentence_similarity"] for it in done]
    original = session.node(chosen)
    summary = {
        "perturbations": len(done),
        "reconverged": sum(1 for it in done if it["reconverged"]),
        "identical": sum(1 for it in done if it["status"] == "identical"),
        "mean_reconvergence_fraction": sum(fracs) / len(fracs) if fracs else None,
        "mean_last_sentence_similarity": sum(similarities) / len(similarities) if similarities else None,
        "same_ending": sum(1 for it in done if it["shared_ending"] >= run),
    }
    result = SweepResult(
        node_id,
        chosen,
        original.text,
        run,
        level,
        seed,
        k,
        kinds,
        phrase,
        items,
        summary,
        notices,
        cancelled(cancel),
        params.to_dict() if params else None,
        backend.identity(),
    )
    if save and not session.readonly:
        stored = {k: v for k, v in result.to_dict().items() if k != "record"}
        result.record = session.add_record(result.kind, node_id, result.record_params(), stored, chosen)
    return result


def format_sweep(result: dict[str, Any]) -> str:
    """A sweep (its record's result) as text."""
    s = result["summary"]
    lines = [
        f"sweep of node {result['node']} against its continuation {result['original_child']}: "
        f"{s['reconverged']}/{s['perturbations']} reconverged (run >= {result['run']}), "
        f"{s['identical']} identical, {s['same_ending']} with the same ending"
    ]
    if s["mean_reconvergence_fraction"] is not None:
        lines[0] += f", reconverging on average {s['mean_reconvergence_fraction']:.0%} of the way in"
    for it in result["items"]:
        where = ""
        if it.get("reconvergence"):
            where = f" at {it['reconvergence'][0]}"
        lines.append(
            f"  [{it['edited']}->{it['replay']}] {it['status']:<11}{where:<7} "
            f"last sentence {it.get('last_sentence_similarity', 0):.2f}  {it['description']}"
        )
    return "\n".join(lines + [f"note: {n}" for n in result["notices"]])
