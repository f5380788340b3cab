"""Where the paths fork, and where the basin begins: along a path, continue
the path's token and its most likely alternatives at each position several
times, map every continuation to an outcome (an attractor, or else its meaning
cluster), and find the forking tokens and the point of no return
(analysis.forks). Stored as a "forks" record; `loom forks`, the app's F and
`loom.forks()` all run this.

The outcome of a continuation is judged on the whole text the model has
written on the path (from the path's first model-written node), up to the
position, then the token, then the continuation, as the finished story would
read; so once the attractor's words are on the path, every continuation is in it.
Seeds: the k-th token continued at every position uses the same seeds
(common random numbers: two positions differ by their context, not by their
luck); the tokens of one position use different seeds, so that they are
independent samples of the mixture."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.attractors import Attractor
from ..analysis.clusters import DEFAULT_ENDING_WORDS, DEFAULT_SIMILARITY, cluster_texts
from ..analysis.forks import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_CHANGE,
    DEFAULT_SHARE,
    Change,
    Mixed,
    changes,
    check_share,
    check_test,
    mix,
    mix_shares,
    point_of_no_return,
)
from ..analysis.intervals import Rate
from ..backends.base import Backend
from ..store import Session
from ..tree import BranchDone, Context, GenerationParams, Node, Notice, Segment, Token, TokenEvent, node_segment
from .base import Cancel, Counter, ProgressFn, Result, cancelled

#: the experiment's own defaults in the settings resolver: continuations per alternative, and short ones
DEFAULTS = {"n": 16, "max_tokens": 24}
ALTERNATIVES = 3  # alternatives continued besides the path's own token
MIN_PROB = 0.01  # alternatives less likely than this are not continued (their weight is left out)


class ForksError(ValueError):
    """A forks run that cannot be done (a path without model tokens, another model's path...)."""


@dataclass
class Branch:
    """One token at a position (the path's own, or an alternative) and its continuations."""

    token: str
    token_id: int | None
    prob: float
    chosen: bool
    texts: list[str]  # each continuation after the token
    ends: bool = False  # the token is end-of-text: the text ends there, nothing is continued

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "token_id": self.token_id,
            "p": float(self.prob),
            "chosen": self.chosen,
            "ends": self.ends,
            "texts": list(self.texts),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Branch:
        return cls(
            d["token"], d.get("token_id"), float(d["p"]), bool(d["chosen"]), list(d["texts"]), bool(d.get("ends"))
        )


@dataclass
class Position:
    """A position on the path: which token of which node, where it starts in
    the path's model-written text, and the branches continued from it."""

    position: int  # index among the path's model-written tokens (the app's token cursor)
    node: int
    index: int  # the token's index in its node
    offset: int  # where the token starts in ForksResult.story
    branches: list[Branch]

    @property
    def chosen(self) -> Branch:
        return next(b for b in self.branches if b.chosen)

    def outcome_texts(self, story: str) -> list[list[str]]:
        """For each branch, the text each continuation makes: the path before
        the token, the token, the continuation."""
        head = story[: self.offset]
        return [[head if b.ends else head + b.token + t for t in b.texts] for b in self.branches]


@dataclass
class Measured:
    """The outcome numbers of a run: per position the hits of each branch and
    the mixture, the change-point test, the point of no return."""

    hits: list[list[int]]  # [position][branch]: continuations in the outcome
    mixed: list[Mixed]
    shares: list[dict[int, float]]  # cluster mode: the mixed distribution over clusters, else []
    changes: list[Change]
    no_return: int | None  # index into the positions
    outcome: dict[str, Any]


def measure(
    positions: list[Position],
    story: str,
    attractor: Attractor | None,
    *,
    share: float = DEFAULT_SHARE,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
    cluster_similarity: float = DEFAULT_SIMILARITY,
    cluster_words: int = DEFAULT_ENDING_WORDS,
) -> Measured:
    """Map every continuation to the outcome and test the series. Without an
    attractor the outcome is the meaning cluster of each text, the clusters made
    over all continuations of the run together; the rates are then those of
    cluster 0, the biggest (what most continuations end in)."""
    texts = [pos.outcome_texts(story) for pos in positions]
    flat = [t for per in texts for branch in per for t in branch]
    shares: list[dict[int, float]] = []
    outcome: dict[str, Any]
    if attractor is not None:
        member = iter(attractor.members(flat))
        labels = [[[0 if next(member) else 1 for _ in branch] for branch in per] for per in texts]
        outcome = {"kind": "attractor", "attractor": attractor.to_dict()}
    else:
        clustering = cluster_texts(flat, cluster_similarity, cluster_words)
        it = iter(clustering.labels)
        labels = [[[next(it) for _ in branch] for branch in per] for per in texts]
        members = clustering.members(0) if clustering.count else []
        outcome = {
            "kind": "cluster",
            "cluster": 0,
            "clusters": clustering.count,
            "size": len(members),
            "example": flat[members[0]][-200:] if members else "",
            "cluster_similarity": float(cluster_similarity),
            "cluster_words": int(cluster_words),
        }
        shares = [
            mix_shares([(b.prob, lab) for b, lab in zip(pos.branches, per)]) for pos, per in zip(positions, labels)
        ]
    hits = [[sum(1 for x in lab if x == 0) for lab in per] for per in labels]
    mixed = [mix([(b.prob, k, len(b.texts)) for b, k in zip(pos.branches, per)]) for pos, per in zip(positions, hits)]
    tested = changes(
        [[(b.prob, k, len(b.texts)) for b, k in zip(pos.branches, per)] for pos, per in zip(positions, hits)],
        alpha,
        min_change,
    )
    return Measured(hits, mixed, shares, tested, point_of_no_return([m.rate for m in mixed], share), outcome)


@dataclass
class ForksResult(Result):
    kind = "forks"

    node_id: int
    story: str  # the path's text from its first model-written node
    positions: list[Position]
    attractor: Attractor | None
    settings: dict[str, Any]  # samples, alternatives, min_prob, stride, start, end, share, alpha, min_change, clusters
    params: GenerationParams | None = None
    model: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    record: int | None = None
    # measured from the rest when not given, so never None once made
    measured: Measured = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.measured is None:
            s = self.settings
            self.measured = measure(
                self.positions,
                self.story,
                self.attractor,
                share=s["share"],
                alpha=s["alpha"],
                min_change=s["min_change"],
                cluster_similarity=s["cluster_similarity"],
                cluster_words=s["cluster_words"],
            )

    # -- the summary -----------------------------------------------------------
    def _where(self, i: int) -> dict[str, Any]:
        pos = self.positions[i]
        return {"position": pos.position, "node": pos.node, "index": pos.index, "token": pos.chosen.token}

    @property
    def forks(self) -> list[dict[str, Any]]:
        """The forking tokens: where choosing the path's token moved the outcome
        rate significantly (from the position's mixed rate to its own token's)."""
        return [
            {**self._where(c.index), **{k: v for k, v in c.to_dict().items() if k not in ("index", "fork")}}
            for c in self.measured.changes
            if c.fork
        ]

    @property
    def point_of_no_return(self) -> dict[str, Any] | None:
        i = self.measured.no_return
        if i is None:
            return None
        m = self.measured.mixed[i]
        return {**self._where(i), "rate": float(m.rate), "lo": float(m.lo), "hi": float(m.hi)}

    def position_dicts(self) -> list[dict[str, Any]]:
        ms = self.measured
        out = []
        for i, pos in enumerate(self.positions):
            alts = []
            for b, k in zip(pos.branches, ms.hits[i]):
                r = Rate.of(k, len(b.texts))
                alts.append({**b.to_dict(), "k": r.k, "n": r.n, "rate": r.rate, "lo": r.lo, "hi": r.hi})
            d = {
                **self._where(i),
                "offset": pos.offset,
                "p_token": float(pos.chosen.prob),
                **ms.mixed[i].to_dict(),
                "alternatives": alts,
            }
            if ms.shares:
                d["clusters"] = {str(c): float(v) for c, v in ms.shares[i].items()}
            out.append(d)
        return out

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure (see loom.render.figures.forks_figure); also written to
        `path` (PNG or SVG by the suffix) when given."""
        from ..render.figures import forks_figure

        return forks_figure(self.to_dict(), path, f"forks along the path to node {self.node_id}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "outcome": self.measured.outcome,
            "forks": self.forks,
            "point_of_no_return": self.point_of_no_return,
            "settings": dict(self.settings),
            "positions": self.position_dicts(),
            "changes": [c.to_dict() for c in self.measured.changes],
            "story": self.story,
            "notices": list(self.notices),
            "cancelled": self.cancelled,
            "record": self.record,
        }

    def record_params(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict() if self.params else None,
            "model": self.model,
            "attractor": self.attractor.to_dict() if self.attractor else None,
            **self.settings,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per position x token continued (the path's token and its
        alternatives): the token's probability and rate with its Wilson interval,
        the position's mixed rate, what choosing the path's token changed (and
        the test's adjusted p-value), whether the position is a fork and whether
        it lies at or after the point of no return."""
        ms = self.measured
        out = []
        for i, pos in enumerate(self.positions):
            m, c = ms.mixed[i], ms.changes[i]
            for b, k in zip(pos.branches, ms.hits[i]):
                r = Rate.of(k, len(b.texts))
                out.append(
                    {
                        "position": pos.position,
                        "node": pos.node,
                        "index": pos.index,
                        "token": b.token,
                        "token_id": b.token_id,
                        "chosen": int(b.chosen),
                        "p_token": float(b.prob),
                        "samples": r.n,
                        "hits": r.k,
                        "attractor_rate": r.rate,
                        "rate_low": r.lo,
                        "rate_high": r.hi,
                        "position_rate": m.rate,
                        "position_low": m.lo,
                        "position_high": m.hi,
                        "n_eff": m.n_eff,
                        "mass": m.mass,
                        "change": float(c.change),
                        "p_adjusted": float(c.p_adjusted),
                        "is_fork": int(c.fork),
                        "no_return": int(ms.no_return is not None and i >= ms.no_return),
                    }
                )
        return out

    def remeasure(self, attractor: Attractor | None = None, **settings: Any) -> ForksResult:
        """The same continuations measured again with another attractor or test
        settings (share, alpha, min_change, cluster_similarity, cluster_words);
        nothing is sampled or stored."""
        return ForksResult(
            self.node_id,
            self.story,
            self.positions,
            attractor,
            {**self.settings, **settings},
            self.params,
            self.model,
            list(self.notices),
            self.cancelled,
            self.record,
        )

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ForksResult:
        """A stored forks run, as it was measured (its continuations are in the record)."""
        r, p = rec["result"], rec["params"] or {}
        attractor = Attractor.from_dict(p["attractor"]) if p.get("attractor") else None
        settings = {k: v for k, v in p.items() if k not in ("params", "model", "attractor")}
        positions = [
            Position(
                d["position"], d["node"], d["index"], d["offset"], [Branch.from_dict(a) for a in d["alternatives"]]
            )
            for d in r["positions"]
        ]
        return cls(
            rec["node_id"],
            r["story"],
            positions,
            attractor,
            settings,
            GenerationParams.from_dict(p["params"]) if p.get("params") else None,
            p.get("model"),
            list(r.get("notices") or []),
            bool(r.get("cancelled")),
            rec["id"],
        )


# -- choosing the positions ------------------------------------------------------


@dataclass
class PathToken:
    position: int
    node: Node
    index: int
    offset: int
    above: Context  # the path's context before this token's node
    token: Token  # node.tokens[index]


def path_tokens(session: Session, node_id: int) -> tuple[list[PathToken], str]:
    """Every model-written token on the path to `node_id`, in order, and the
    path's text from its first node with tokens (the story outcomes are judged on)."""
    nodes = session.path_nodes(node_id)
    first = next((i for i, n in enumerate(nodes) if n.tokens), None)
    if first is None:
        raise ForksError(f"node {node_id}: the path to it has no model-written tokens to fork at; generate first")
    out: list[PathToken] = []
    above = Context(tuple(node_segment(n) for n in nodes[:first]))
    story = ""
    for n in nodes[first:]:
        offset = len(story)
        for ti, tok in enumerate(n.tokens or ()):
            out.append(PathToken(len(out), n, ti, offset, above, tok))
            offset += len(tok.text)
        story += n.text if not n.tokens else "".join(t.text for t in n.tokens)
        above = above.plus(node_segment(n))
    return out, story


def path_model(session: Session, node_id: int) -> str | None:
    """The model that wrote the last model-written tokens on the path (None: a server reference it cannot name)."""
    return path_tokens(session, node_id)[0][-1].node.model


def select(tokens: list[PathToken], start: int | None, end: int | None, stride: int) -> list[PathToken]:
    """Positions start..end (inclusive), every `stride`-th."""
    last = len(tokens) - 1
    lo = 0 if start is None else start
    hi = last if end is None else end
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise ForksError(f"the stride must be a whole number of at least 1 (got {stride!r})")
    if not 0 <= lo <= last or not lo <= hi <= last:
        raise ForksError(
            f"positions must lie from 0 to {last} with from <= to (the path has {len(tokens)} model tokens); "
            f"got from {lo} to {hi}"
        )
    return tokens[lo : hi + 1 : stride]


def branches_at(pt: PathToken, alternatives: int, min_prob: float) -> list[Branch]:
    """The path's own token, then up to `alternatives` of its recorded
    alternatives at least `min_prob` likely, most likely first."""
    tok = pt.token
    prob = tok.prob
    if prob is None:
        raise ForksError(
            f"node {pt.node.id}: token {pt.index} has no recorded probability (the model gave none); "
            "the outcomes cannot be weighted"
        )
    out = [Branch(tok.text, tok.token_id, float(prob), True, [])]
    for alt in tok.alternatives:
        if len(out) > alternatives:
            break
        same = (
            alt.token_id == tok.token_id
            if alt.token_id is not None and tok.token_id is not None
            else alt.text == tok.text
        )
        if same or alt.prob < min_prob:
            continue
        out.append(Branch(alt.text, alt.token_id, float(alt.prob), False, []))
    return out


def _context(pt: PathToken, branch: Branch) -> Context:
    ctx = pt.above.plus(node_segment(pt.node, upto=pt.index))
    if branch.token_id is not None and pt.node.model:
        return ctx.plus(Segment(branch.token, (branch.token_id,), pt.node.model))
    return ctx.plus(Segment(branch.token))


def _continue(
    backend: Backend, ctx: Context, params: GenerationParams, cancel: Cancel | None, notices: list[str]
) -> list[str] | None:
    """`params.n` continuations of `ctx` (one batched call); None when cancelled."""
    toks: dict[int, list[str]] = {}
    texts: list[str] = []
    for event in backend.generate(ctx, params, cancel):
        if isinstance(event, TokenEvent):
            toks.setdefault(event.branch, []).append(event.token.text)
        elif isinstance(event, Notice) and event.text not in notices:
            notices.append(event.text)
        elif isinstance(event, BranchDone):
            got = "".join(toks.pop(event.branch, []))
            if event.reason == "cancelled":
                return None
            if event.reason == "error":
                continue  # a fault cut it off: left out (the row's sample count says so)
            texts.append(got)
    return texts


def _end_of_text(backend: Backend) -> int | None:
    # a local model's end-of-text id: a continuation after it would start a new text
    return getattr(getattr(backend, "tokenizer", None), "eos_token_id", None)


def check_options(
    alternatives: int = ALTERNATIVES,
    min_prob: float = MIN_PROB,
    share: float = DEFAULT_SHARE,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
) -> None:
    """Raise ValueError (ForksError) naming the first setting out of range."""
    if not isinstance(alternatives, int) or isinstance(alternatives, bool) or not 0 <= alternatives <= 100:
        raise ForksError(f"alternatives must be a whole number from 0 to 100 (got {alternatives!r})")
    if not 0 <= min_prob <= 1:
        raise ForksError(f"the least probability of an alternative must be from 0 to 1 (got {min_prob!r})")
    check_share(share)
    check_test(alpha, min_change)


def forks(
    session: Session,
    backend: Backend,
    node_id: int,
    params: GenerationParams,
    *,
    attractor: Attractor | None = None,
    alternatives: int = ALTERNATIVES,
    min_prob: float = MIN_PROB,
    stride: int = 1,
    start: int | None = None,
    end: int | None = None,
    share: float = DEFAULT_SHARE,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
    cluster_similarity: float = DEFAULT_SIMILARITY,
    cluster_words: int = DEFAULT_ENDING_WORDS,
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: Cancel | None = None,
) -> ForksResult:
    """At each chosen position of the path to `node_id` continue the path's
    token and its alternatives `params.n` times each (`params.max_tokens`
    tokens), measure the outcome and store the result. `progress` counts
    finished positions; `cancel` stops and keeps the positions finished."""
    params.validate()
    check_options(alternatives, min_prob, share, alpha, min_change)
    tokens, story = path_tokens(session, node_id)
    chosen = select(tokens, start, end, stride)
    others = sorted({pt.node.model or "?" for pt in chosen if pt.node.model != backend.name})
    if others:
        raise ForksError(
            f"the path's tokens were written by {', '.join(others)}, not {backend.name}: their alternatives "
            f"and probabilities are that model's; open it to find where its paths fork"
        )
    seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
    run = params.replace(seed=seed, logprobs=0).validate()  # continuations need no alternatives of their own
    eos = _end_of_text(backend)
    settings = {
        "samples": run.n,
        "alternatives": alternatives,
        "min_prob": float(min_prob),
        "stride": stride,
        "start": chosen[0].position,
        "end": chosen[-1].position,
        "share": float(share),
        "alpha": float(alpha),
        "min_change": float(min_change),
        "cluster_similarity": float(cluster_similarity),
        "cluster_words": int(cluster_words),
        "context": backend.context_form(chosen[0].above.plus(node_segment(chosen[0].node, upto=chosen[0].index))),
    }
    count = Counter(progress, len(chosen), "positions")
    notices: list[str] = []
    done: list[Position] = []
    for pt in chosen:
        if cancelled(cancel):
            break
        branches = branches_at(pt, alternatives, min_prob)
        for j, b in enumerate(branches):
            if eos is not None and b.token_id == eos:
                b.ends, b.texts = True, [""] * run.n  # the text ends here, the same for every sample
                continue
            # the j-th token of every position draws the same seeds (two positions differ by their context,
            # not their luck); the tokens of one position draw different ones (independent strata of the mixture)
            texts = _continue(backend, _context(pt, b), run.replace(seed=seed + j * run.n), cancel, notices)
            if texts is None:
                break
            b.texts = texts
        else:
            done.append(Position(pt.position, pt.node.id, pt.index, pt.offset, branches))
            count.step()
    if not done:
        raise ForksError(f"node {node_id}: no position finished" + (" (cancelled)" if cancelled(cancel) else ""))
    result = ForksResult(node_id, story, done, attractor, settings, run, backend.identity(), notices, cancelled(cancel))
    if save and not session.readonly:
        stored = {k: v for k, v in result.to_dict().items() if k != "record"}
        result.record = session.add_record(result.kind, node_id, result.record_params(), stored)
    return result


def format_forks(result: ForksResult, width: int = 24) -> str:
    """The run as text: a line per position with its rate bar, the forks (◆)
    and the point of no return (●). Model text goes through the caller's
    textsafe (the CLI's emit)."""
    from ..analysis.report import bar

    ms = result.measured
    o = ms.outcome
    what = (
        f"attractor {o['attractor']['name']!r} ({o['attractor']['definition']})"
        if o["kind"] == "attractor"
        else f"meaning cluster 0 of {o['clusters']} ({o['size']} continuations, e.g. \u2026{o['example'][-60:]!r})"
    )
    s = result.settings
    lines = [
        f"forks along the path to node {result.node_id}: outcome = {what}",
        f"{len(result.positions)} positions ({s['start']}-{s['end']}, stride {s['stride']}), the token and up to "
        f"{s['alternatives']} alternatives each continued {s['samples']} times; rate with 95% interval",
        "",
    ]
    forks = {c.index for c in ms.changes if c.fork}
    for i, pos in enumerate(result.positions):
        m = ms.mixed[i]
        mark = ("\u25c6" if i in forks else " ") + ("\u25cf" if i == ms.no_return else " ")
        lines.append(
            f"{pos.position:>5} {mark} {pos.chosen.token!r:<16.16} p={pos.chosen.prob:<5.2f} "
            f"{bar(m.rate, width):<{width}} {m.rate:>4.0%} [{m.lo:.0%}, {m.hi:.0%}]"
        )
    lines.append("")
    if result.forks:
        for f in result.forks:
            lines.append(
                f"\u25c6 fork at position {f['position']} ({f['token']!r}, node {f['node']} #{f['index']}): "
                f"{f['before']:.0%} \u2192 {f['after']:.0%} with this token (its alternatives {f['others']:.0%}; "
                f"Holm-adjusted p = {f['p_adjusted']:.2g})"
            )
    else:
        lines.append(f"no fork: no change of at least {s['min_change']:.0%} with adjusted p < {s['alpha']:g}")
    p = result.point_of_no_return
    lines.append(
        f"\u25cf point of no return: position {p['position']} ({p['token']!r}), from where every rate is "
        f">= {s['share']:.0%}"
        if p
        else f"no point of no return: the rate does not stay >= {s['share']:.0%} to the end"
    )
    if result.cancelled:
        lines.append("(cancelled: the positions that finished)")
    return "\n".join(lines)
