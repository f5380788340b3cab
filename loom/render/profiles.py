"""Figures of per-token profiles (matplotlib, PNG or SVG; see render.plotting):

- model vs model: the entropy of each model's distribution at every token of
  its branches, the tokens it was over 90% sure of marked, and the share of
  such tokens per model;
- a path: the probability of each token the model wrote along the path to a
  node, and the entropy of the distribution it was sampled from.

Each takes plain data and returns the Figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .plotting import make_figure, percent_axis, shown, text_label, token_label
from .svg import RenderError

LABELLED = 60  # at most this many tokens get their text as the tick label
LEGEND = 8  # branches named in a legend


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


# -- model vs model -------------------------------------------------------------------


def versus_figure(
    models: list[dict[str, Any]], path: str | Path | None = None, title: str = "", sure: float = 0.9
) -> Any:
    """`models`: per model its name, `branches` (node, entropy and prob per token),
    mean_entropy_bits, share_sure (share of tokens above `sure`) and entropy_exact."""
    if not models or not any(b["entropy"] for m in models for b in m["branches"]):
        raise RenderError("no branch tokens to draw")
    return make_figure(lambda fig: _versus(fig, models, title, sure), (5 * len(models) + 2.5, 4.6), path)


def _versus(fig: Any, models: list[dict[str, Any]], title: str, sure: float) -> None:
    from matplotlib.ticker import MaxNLocator

    axes = fig.subplots(1, len(models) + 1, width_ratios=(3,) * len(models) + (1.2,))
    for ax in axes[1:-1]:
        ax.sharey(axes[0])
    for i, (ax, m) in enumerate(zip(axes, models)):
        sx, sy = [], []
        for j, b in enumerate(m["branches"]):
            ent = _nan(b["entropy"])
            ax.plot(
                range(len(ent)),
                ent,
                marker=".",
                markersize=3,
                linewidth=1,
                color=f"C{i}",
                alpha=0.35 + 0.65 / (1 + j),
                label=f"node {b['node']}" if j < LEGEND else None,
            )
            hits = [k for k, p in enumerate(b["prob"]) if p is not None and p > sure and not math.isnan(ent[k])]
            sx += hits
            sy += [ent[k] for k in hits]
        ax.scatter(sx, sy, marker="o", s=14, color="black", zorder=3, label=f"token above {sure:.0%}")
        mean = m.get("mean_entropy_bits")
        ax.set_title(
            f"{text_label(m['model'], 32)}: mean {'n/a' if mean is None else f'{mean:.2f}'} bits"
            + ("" if m.get("entropy_exact", True) else " (lower bound)"),
            fontsize="medium",
        )
        ax.set_xlabel("token of the branch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="x-small")
    axes[0].set_ylabel("entropy of the next-token distribution (bits)")
    share = axes[-1]
    values = [m.get("share_sure") for m in models]
    share.bar(range(len(models)), [v or 0.0 for v in values], color=[f"C{i}" for i in range(len(models))])
    for i, v in enumerate(values):
        share.text(i, (v or 0.0) + 0.02, "n/a" if v is None else f"{v:.0%}", ha="center", fontsize="small")
    share.set_xticks(
        range(len(models)),
        [text_label(m["model"], 14) for m in models],
        rotation=30,
        ha="right",
        fontsize="small",
        parse_math=False,
    )
    share.set_ylim(0, 1.1)
    percent_axis(share.yaxis)
    share.set_title(f"tokens above {sure:.0%}", fontsize="medium")
    fig.suptitle(shown(title or "model vs model: entropy along each branch"))


# -- a path ---------------------------------------------------------------------------


def path_figure(
    rows: list[dict[str, Any]], path: str | Path | None = None, title: str = "", entropy_label: str = "entropy (bits)"
) -> Any:
    """`rows`: one per token along the path (node, token, prob, entropy_bits)."""
    if not rows:
        raise RenderError("no model-written tokens on the path to draw")
    return make_figure(
        lambda fig: _path(fig, rows, title, entropy_label), (max(8.0, min(24.0, 0.2 * len(rows) + 4)), 6), path
    )


def _path(fig: Any, rows: list[dict[str, Any]], title: str, entropy_label: str) -> None:
    x = list(range(len(rows)))
    prob_ax, ent_ax = fig.subplots(2, 1, sharex=True)
    probs = _nan([r["prob"] for r in rows])
    prob_ax.bar(x, probs, width=0.8, color=["C3" if p > 0.9 else "C0" for p in probs])
    prob_ax.set_ylim(0, 1.02)
    percent_axis(prob_ax.yaxis)
    prob_ax.set_ylabel("probability of the\ntoken written")
    ent_ax.plot(x, _nan([r["entropy_bits"] for r in rows]), marker=".", color="C1")
    ent_ax.set_ylabel(shown(entropy_label))
    ent_ax.set_xlabel("token along the path (red: above 90%)")
    starts = [i for i in x if i == 0 or rows[i]["node"] != rows[i - 1]["node"]]
    for ax in (prob_ax, ent_ax):
        ax.grid(True, alpha=0.3)
        for i in starts[1:]:
            ax.axvline(i - 0.5, color="0.5", linestyle=":", linewidth=1)
    for i in starts:
        prob_ax.annotate(f"node {rows[i]['node']}", (i - 0.4, 1.0), fontsize="x-small", va="top", color="0.35")
    if len(rows) <= LABELLED:
        ent_ax.set_xticks(x, [token_label(r["token"]) for r in rows], rotation=90, fontsize="small", parse_math=False)
    fig.suptitle(shown(title or "the path's tokens"))
