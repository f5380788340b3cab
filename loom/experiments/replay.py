"""Perturb, regenerate "like the original", and measure reconvergence.

- replay(): from a node made by an edit (it has `derived_from`), generate one
  child with the original continuation's model, parameters, token count and
  recorded seed, so the two continuations are directly comparable.
- compare_nodes(): align two nodes' continuations (see analysis.align).
- sweep(): k automatic perturbations of a node, each a real branch, each
  replayed and compared with the original.
- sample_continuations(): N continuations for an attractor report, kept as
  nodes or only inside the report record.

Every result is plain data that is stored with Session.add_record, so it can be
reopened. Used by the CLI and by the app's workers; no textual here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from ..analysis.align import Alignment, Piece, align, pieces_from_text
from ..analysis.perturb import make_perturbations
from ..analysis.report import Sample, build_report
from ..backends.base import Backend
from .context import path_context
from .generate import generate_children
from ..store import Session
from ..tree import BranchDone, GenerationParams, Node, Notice, TokenEvent

Listener = Callable[[object], None]


class ReplayError(ValueError):
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
        raise ReplayError(f"node {original_child.id} was not written by a model with recorded parameters; it cannot be replayed")
    params = GenerationParams.from_dict(original_child.params)
    if params.seed is None:
        raise ReplayError(f"node {original_child.id} has no recorded seed; it cannot be replayed exactly")
    ended_itself = (original_child.meta or {}).get("finish") in ("eos", "stop")
    limit = params.max_tokens if ended_itself else len(original_child.tokens)
    return params.replace(n=1, max_tokens=limit).validate()


@dataclass
class ReplayResult:
    edited: Node
    original: Node  # the node the edit was derived from
    original_child: Node  # the original's continuation that was replayed
    replay: Node | None  # None when cancelled before any token
    params: GenerationParams
    notices: list[str] = field(default_factory=list)


def replay(session: Session, backend: Backend, node_id: int, *, original_child: int | None = None,
           cancel: threading.Event | None = None, listener: Listener | None = None,
           meta: dict | None = None) -> ReplayResult:
    """Regenerate below the edit at or above `node_id` like the original did.

    `original_child` picks which continuation of the original to replay
    (default: its first model-written child)."""
    edited = edited_node(session, node_id)
    original = session.node(edited.derived_from)
    candidates = original_continuations(session, original.id)
    if original_child is not None:
        chosen = next((c for c in candidates if c.id == original_child), None)
        if chosen is None:
            raise ReplayError(f"node {original_child} is not a model-written child of node {original.id} (the original of {edited.id})")
    elif candidates:
        chosen = candidates[0]
    else:
        raise ReplayError(
            f"node {original.id} (the original of edit {edited.id}) has no model continuation to replay; "
            f"generate from node {original.id} first"
        )
    if chosen.model != backend.name:
        raise ReplayError(f"node {chosen.id} was written by model {chosen.model!r}, not {backend.name!r}; open that model to replay it")
    params = replay_params(chosen)
    result = generate_children(
        session, backend, edited.id, params, cancel=cancel, listener=listener,
        meta={"replay": {"of": chosen.id, "original": original.id}, **(meta or {})},
    )
    return ReplayResult(edited, original, chosen, result.nodes[0] if result.nodes else None, params, result.notices)


# -- compare -----------------------------------------------------------------

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
class Comparison:
    a: int
    b: int
    a_nodes: list[int]  # the nodes whose text was compared, root-most first
    b_nodes: list[int]
    perturbation: tuple[int, int] | None  # (a's node, b's node): two versions of one node, left out
    a_pieces: list[Piece]
    b_pieces: list[Piece]
    alignment: Alignment

    def to_dict(self) -> dict:
        return {
            "a": self.a, "b": self.b, "a_nodes": self.a_nodes, "b_nodes": self.b_nodes,
            "perturbation": list(self.perturbation) if self.perturbation else None,
            "a_text": "".join(p.text for p in self.a_pieces), "b_text": "".join(p.text for p in self.b_pieces),
            **self.alignment.to_dict(),
        }


def compare_nodes(session: Session, a: int, b: int, k: int = 4, level: str = "auto",
                  include_edit: bool = False) -> Comparison:
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
    if (not include_edit and len(seg_a) > 1 and len(seg_b) > 1
            and _derivation_root(session, seg_a[0]) == _derivation_root(session, seg_b[0])):
        perturbation = (seg_a[0].id, seg_b[0].id)
        seg_a, seg_b = seg_a[1:], seg_b[1:]
    pa, pb = _pieces(seg_a), _pieces(seg_b)
    return Comparison(a, b, [n.id for n in seg_a], [n.id for n in seg_b], perturbation, pa, pb, align(pa, pb, k, level))


def store_comparison(session: Session, comp: Comparison, **params) -> int:
    return session.add_record("compare", comp.a, {"k": comp.alignment.k, "level": comp.alignment.level, **params},
                              comp.to_dict(), comp.b)


# -- sweep -------------------------------------------------------------------

def sweep(session: Session, backend: Backend, node_id: int, k: int = 6, *, kinds: list[str] | None = None,
          phrase: str | None = None, seed: int = 0, params: GenerationParams | None = None,
          original_child: int | None = None, run: int = 4, level: str = "auto",
          cancel: threading.Event | None = None, progress: Listener | None = None) -> dict:
    """Make `k` perturbations of node `node_id`, each a new node derived from
    it, replay each like the original continuation, compare, and summarise.

    The original continuation is `original_child`, else the node's first
    model-written child; if it has none, one is generated with `params`
    (seeded with `seed`). `progress` gets ("perturbation", i, k, item) after each."""
    node = session.node(node_id)
    notices: list[str] = []
    if original_child is None and not original_continuations(session, node_id):
        base = (params or GenerationParams()).replace(n=1, seed=seed if params is None or params.seed is None else params.seed)
        made = generate_children(session, backend, node_id, base, cancel=cancel)
        notices += made.notices
        if not made.nodes:
            raise ReplayError(f"node {node_id}: could not generate an original continuation to sweep against")
        notices.append(f"node {node_id} had no model continuation: generated node {made.nodes[0].id} as the original")
        original_child = made.nodes[0].id
    perturbations = make_perturbations(node.text, k, kinds, seed, phrase)
    author = "prompt" if node.parent_id is None else "edit"
    items = []
    chosen = original_child
    for i, p in enumerate(perturbations):
        if cancel is not None and cancel.is_set():
            break
        edited = session.add_node(node.parent_id, p.text, author, derived_from=node.id,
                                  meta={"perturbation": {"kind": p.kind, "description": p.description, "seed": seed}})
        res = replay(session, backend, edited.id, original_child=chosen, cancel=cancel)
        chosen = res.original_child.id
        notices += [n for n in res.notices if n not in notices]
        item = {"kind": p.kind, "description": p.description, "edited": edited.id,
                "replay": res.replay.id if res.replay else None}
        if res.replay is not None:
            comp = compare_nodes(session, chosen, res.replay.id, run, level)
            al = comp.alignment
            item.update({
                "status": al.status, "reconverged": al.reconverged, "divergence": al.divergence,
                "reconvergence": list(al.reconvergence) if al.reconvergence else None,
                "reconvergence_fraction": al.reconvergence[0] / al.len_a if al.reconvergence and al.len_a else None,
                "longest_run": al.longest_run["size"], "shared_ending": al.shared_ending["size"],
                "last_sentence_similarity": al.last_sentence_similarity, "similarity": al.similarity,
                "text": "".join(pc.text for pc in comp.b_pieces),
            })
        else:
            item.update({"status": "cancelled", "reconverged": False})
        items.append(item)
        if progress:
            progress(("perturbation", i, len(perturbations), item))
    done = [it for it in items if it["status"] != "cancelled"]
    fracs = [it["reconvergence_fraction"] for it in done if it.get("reconvergence_fraction") is not None]
    original = session.node(chosen)
    summary = {
        "perturbations": len(done),
        "reconverged": sum(1 for it in done if it["reconverged"]),
        "identical": sum(1 for it in done if it["status"] == "identical"),
        "mean_reconvergence_fraction": sum(fracs) / len(fracs) if fracs else None,
        "mean_last_sentence_similarity": (sum(it["last_sentence_similarity"] for it in done) / len(done)) if done else None,
        "same_ending": sum(1 for it in done if it["shared_ending"] >= run),
    }
    return {"node": node_id, "original_child": chosen, "original_text": original.text, "run": run,
            "seed": seed, "items": items, "summary": summary, "notices": notices,
            "cancelled": bool(cancel is not None and cancel.is_set())}


def format_sweep(result: dict) -> str:
    s = result["summary"]
    lines = [f"sweep of node {result['node']} against its continuation {result['original_child']}: "
             f"{s['reconverged']}/{s['perturbations']} reconverged (run >= {result['run']}), "
             f"{s['identical']} identical, {s['same_ending']} with the same ending"]
    if s["mean_reconvergence_fraction"] is not None:
        lines[0] += f", reconverging on average {s['mean_reconvergence_fraction']:.0%} of the way in"
    for it in result["items"]:
        where = ""
        if it.get("reconvergence"):
            where = f" at {it['reconvergence'][0]}"
        lines.append(f"  [{it['edited']}->{it['replay']}] {it['status']:<11}{where:<7} "
                     f"last sentence {it.get('last_sentence_similarity', 0):.2f}  {it['description']}")
    return "\n".join(lines + [f"note: {n}" for n in result["notices"]])


# -- samples for a report ----------------------------------------------------

KEEP = ("nodes", "record")


def sample_continuations(session: Session, backend: Backend, node_id: int, params: GenerationParams, *,
                         temperatures: list[float] | None = None, keep: str = "nodes",
                         cancel: threading.Event | None = None, listener: Listener | None = None) -> tuple[list[Sample], list[str]]:
    """`params.n` continuations of `node_id` at each temperature (one batched
    call per temperature). keep='nodes' commits them as real branches;
    keep='record' keeps them only in the returned samples (for the report record)."""
    if keep not in KEEP:
        raise ReplayError(f"keep samples as one of {', '.join(KEEP)} (got {keep!r})")
    params.validate()
    temps = list(temperatures) if temperatures else [params.temperature]
    prompt = path_context(session, node_id)  # the path as the ids the model wrote
    samples: list[Sample] = []
    notices: list[str] = []
    for t in temps:
        if cancel is not None and cancel.is_set():
            break
        p = params.replace(temperature=t).validate()
        if keep == "nodes":
            res = generate_children(session, backend, node_id, p, cancel=cancel, listener=listener, prompt=prompt,
                                    meta={"sample": {"temperature": t}})
            notices += [n for n in res.notices if n not in notices]
            samples += [Sample(n.text, [tk.logprob for tk in n.tokens or () if tk.logprob is not None], t, n.id,
                               (n.params or {}).get("seed")) for n in res.nodes if n.complete]
            continue
        toks: dict[int, list] = {}
        for event in backend.generate(prompt, p, cancel):
            if listener:
                listener(event)
            if isinstance(event, TokenEvent):
                toks.setdefault(event.branch, []).append(event.token)
            elif isinstance(event, Notice) and event.text not in notices:
                notices.append(event.text)
            elif isinstance(event, BranchDone) and event.reason not in ("cancelled", "error"):
                got = toks.pop(event.branch, [])
                samples.append(Sample("".join(tk.text for tk in got), [tk.logprob for tk in got if tk.logprob is not None],
                                      t, None, event.seed))
    return samples, notices


def samples_from_children(session: Session, node_id: int) -> list[Sample]:
    """The node's existing model-written children as samples (no generation)."""
    out = []
    for c in session.children(node_id, with_tokens=True):
        if c.author != "model" or not c.complete:
            continue
        out.append(Sample(c.text, [t.logprob for t in c.tokens or () if t.logprob is not None],
                          (c.params or {}).get("temperature"), c.id, (c.params or {}).get("seed")))
    return out


def report_for(samples: list[Sample], threshold: float, ending_words: int, **measure) -> dict:
    """`measure`: attractors, cluster_similarity, cluster_words, resamples (see analysis.report.build_report)."""
    if not samples:
        raise ReplayError("no samples to report on")
    return build_report(samples, threshold, ending_words, **measure)
