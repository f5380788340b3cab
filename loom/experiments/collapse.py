"""Collapse versus temperature: two models (a tuned one, A, and a base one, B,
over the same vocabulary) read the same path as the same token ids; at each
token of the path's model-written nodes (or of one node) both give their full
next-token distribution, and analysis.collapse fits the temperature on B that
comes closest to A (KL) and what is left over. Stored as a "collapse" record
with both models' identities. The CLI's `loom collapse`, the app's key and
`loom.collapse()` all run this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.collapse import T_BOUNDS, FitError, TemperatureFit, fit_temperature
from ..backends.base import Backend, ContextTokens
from ..store import Session
from .base import Cancel, Counter, ProgressFn, Result, cancelled
from .context import path_context

SCOPES = ("path", "node")
#: the columns of rows(), in order
COLUMNS = (
    "position",
    "node",
    "index",
    "token_id",
    "token",
    "logprob_a",
    "logprob_b",
    "entropy_a",
    "entropy_b",
    "kl_t1",
    "best_t",
    "kl_best",
    "kl_at_global_t",
)


class CollapseError(ValueError):
    """The two models or the node cannot be compared; the message says why."""


@dataclass
class CollapseResult(Result):
    kind = "collapse"

    node_id: int
    scope: str  # "path": every model-written node on the path; "node": the node's own tokens
    tuned: dict[str, Any]  # model A's identity
    base: dict[str, Any]  # model B's identity
    vocabulary: dict[str, Any]
    positions: list[dict[str, Any]]  # position, node, index, token_id, token, logprob_a, logprob_b
    fit: TemperatureFit
    notices: list[str] = field(default_factory=list)
    record: int | None = None

    @property
    def summary(self) -> dict[str, Any]:
        return self.fit.summary()

    def rows(self) -> list[dict[str, Any]]:
        """One row per position: the token, both entropies, KL at T=1, the position's
        own best T and KL there, and KL at the one T fitted to all positions (bits)."""
        f = self.fit
        return [
            {
                **p,
                "entropy_a": f.entropy_a[i],
                "entropy_b": f.entropy_b[i],
                "kl_t1": f.kl_t1[i],
                "best_t": f.best_t[i],
                "kl_best": f.kl_best[i],
                "kl_at_global_t": f.kl_at_global_t[i],
            }
            for i, p in enumerate(self.positions)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "scope": self.scope,
            "tuned": self.tuned,
            "base": self.base,
            **self.summary,
            "rows": self.rows(),
            "notices": self.notices,
            "record": self.record,
        }

    def record_params(self) -> dict[str, Any]:
        return {
            "tuned": self.tuned,
            "base": self.base,
            "scope": self.scope,
            "t_bounds": list(self.fit.bounds),
            "vocabulary": self.vocabulary,
        }

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: entropy of both models along the path, each position's
        best T, and the KL at T=1, at the global T and at each best T; also written to
        `path` (PNG or SVG by the file's suffix) when given."""
        from ..render.collapse import collapse_figure

        return collapse_figure(self.rows(), self.to_dict(), path)


def _positions(session: Session, node_id: int, scope: str, tokens: ContextTokens) -> list[tuple[int, int, int]]:
    """(position in the ids, node, index in that node) of every token compared."""
    nodes = session.path_nodes(node_id)
    chosen = [nodes[-1]] if scope == "node" else [n for n in nodes if n.author == "model"]
    spans = dict(zip((n.id for n in nodes), tokens.spans))
    out = []
    for node in chosen:
        start, end = spans[node.id]
        out += [(p, node.id, p - start) for p in range(max(start, 1), end)]  # the very first token has no context
    return out


def collapse(
    session: Session,
    tuned: Backend,
    base: Backend,
    node_id: int,
    *,
    scope: str = "path",
    bounds: tuple[float, float] = T_BOUNDS,
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: Cancel | None = None,
) -> CollapseResult:
    """Fit the temperature on `base` that best explains `tuned` along the path to
    `node_id`, per position and for all positions together, and store the result."""
    if scope not in SCOPES:
        raise CollapseError(f"scope must be one of {', '.join(SCOPES)} (got {scope!r})")
    vocab_a, vocab_b = tuned.vocabulary(), base.vocabulary()  # a backend without full distributions refuses here
    if vocab_a != vocab_b:
        raise CollapseError(
            f"{tuned.name!r} and {base.name!r} have different vocabularies ({vocab_a['size']} and {vocab_b['size']} "
            "logits; token tables "
            + ("equal" if vocab_a["sha256"] == vocab_b["sha256"] else "differ")
            + "): their next-token distributions are not over the same tokens, so no KL between them exists"
        )
    # the same ids for both models: a node either of them wrote keeps its sampled ids
    tokens = tuned.context_tokens(path_context(session, node_id), (base.name,))
    where = _positions(session, node_id, scope, tokens)
    if not where:
        what = (
            f"node {node_id} has no tokens"
            if scope == "node"
            else f"the path to node {node_id} has no model-written node"
        )
        raise CollapseError(f"{what}: nothing to compare (generate from it first, or choose a node with tokens)")
    notices = []
    if tokens.retokenised:
        notices.append(
            f"node{'s' if len(tokens.retokenised) > 1 else ''} {', '.join(map(str, tokens.retokenised))} "
            f"written by another model: compared on {tuned.name}'s tokenisation of the text"
        )
    count = Counter(progress, 2, "models")
    logp = []
    for backend in (tuned, base):
        if cancelled(cancel):
            raise CollapseError("cancelled before both models had run (nothing stored)")
        logp.append(backend.position_logprobs(tokens.ids, [p for p, _, _ in where]))
        count.step()
    try:
        fit = fit_temperature(logp[0], logp[1], bounds)
    except FitError as exc:
        raise CollapseError(str(exc)) from exc
    positions = [
        {
            "position": p,
            "node": n,
            "index": i,
            "token_id": tokens.ids[p],
            "token": tuned.token_text(tokens.ids[p]),
            "logprob_a": float(logp[0][r, tokens.ids[p]]),
            "logprob_b": float(logp[1][r, tokens.ids[p]]),
        }
        for r, (p, n, i) in enumerate(where)
    ]
    result = CollapseResult(node_id, scope, tuned.identity(), base.identity(), vocab_a, positions, fit, notices)
    if save and not session.readonly:
        stored = {k: v for k, v in result.to_dict().items() if k != "record"}
        result.record = session.add_record(result.kind, node_id, result.record_params(), stored)
    return result


def format_collapse(result: dict[str, Any], limit: int | None = 40) -> str:
    """A collapse result (its to_dict) as text: the summary, then one line per position
    (the first `limit` and the last few when there are more). Model text is left as is:
    the caller makes it safe for where it goes."""
    r = result

    def num(v: Any, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    lines = [
        f"collapse vs temperature on node {r['node']} ({r['positions']} positions, "
        f"{'every model-written node on the path' if r['scope'] == 'path' else 'the node itself'}): "
        f"tuned {r['tuned']['name']}, base {r['base']['name']}",
        f"  {'best single temperature on the base':<38} T = {r['global_t']:.3f}"
        + (
            f" (at the search bound; searched {r['t_bounds'][0]:g} to {r['t_bounds'][1]:g})"
            if r["global_t_at_bound"]
            else ""
        ),
        f"  {'KL(tuned || base) at T = 1':<38} {r['kl_t1']:.3f} bits ({r['kl_t1_mean']:.4f} per position)",
        f"  {'KL left at T = ' + format(r['global_t'], '.3f'):<38} {r['kl_residual']:.3f} bits ({r['kl_residual_mean']:.4f} per position)",
        f"  {'share of the KL that T explains':<38} {num(r['share_explained'], '.1%')} (a temperature per position: "
        f"{num(r['share_explained_per_position'], '.1%')}; median best T {r['median_best_t']:.3f})",
        f"  {'mean entropy along the path':<38} tuned {r['entropy_a_mean']:.3f} bits, base {r['entropy_b_mean']:.3f} bits",
        "",
        f"{'pos':>5} {'token':<14} {'H tuned':>8} {'H base':>8} {'KL T=1':>8} {'best T':>7} {'KL best':>8} {'KL glob':>8}",
    ]
    rows = r["rows"]
    hidden = 0 if limit is None else max(len(rows) - limit, 0)
    shown = rows[: limit - 5] + [None] + rows[-5:] if limit is not None and hidden else rows
    for row in shown:
        if row is None:
            lines.append(f"{'…':>5} ({hidden} more positions: --csv FILE has them all)")
            continue
        tok = repr(row["token"])
        tok = tok if len(tok) <= 14 else tok[:13] + "…"
        lines.append(
            f"{row['position']:>5} {tok:<14} {row['entropy_a']:8.3f} {row['entropy_b']:8.3f} {row['kl_t1']:8.3f} "
            f"{row['best_t']:7.3f} {row['kl_best']:8.3f} {row['kl_at_global_t']:8.3f}"
        )
    return "\n".join(lines + [f"note: {n}" for n in r.get("notices") or []])
