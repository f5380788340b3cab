"""The collapse-versus-temperature figure (matplotlib, PNG or SVG): along the
path, the entropy of both models; each position's best temperature on the base
model beside the single best one; and the KL at T=1, at that single T and at
each position's own best T.

Made like every figure (render.plotting): a matplotlib Figure without pyplot,
matplotlib imported only when a figure is asked for, model text made visible
and never parsed as mathtext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .plotting import make_figure, shown, token_label
from .svg import RenderError

LABELLED = 60  # at most this many positions get their token as the tick label
TICKS = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)  # temperatures labelled on the log axis


def collapse_figure(rows: list[dict[str, Any]], summary: dict[str, Any], path: str | Path | None = None) -> Any:
    """The figure of a collapse result (its rows() and to_dict()), written to `path` (.png or .svg) when given."""
    if not rows:
        raise RenderError("no positions to draw")
    return make_figure(lambda fig: _draw(fig, rows, summary), (max(8.0, min(24.0, 0.22 * len(rows) + 4)), 9), path)


def _draw(fig: Any, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from matplotlib.ticker import FuncFormatter

    x = list(range(len(rows)))
    tuned, base = shown(summary["tuned"]["name"]), shown(summary["base"]["name"])
    g = summary["global_t"]
    ent, temp, kl = fig.subplots(3, 1, sharex=True)
    explained = summary.get("share_explained")
    fig.suptitle(
        f"collapse vs temperature · node {summary['node']} · tuned {tuned} vs base {base}\n"
        f"best single T on the base = {g:.3f}; KL {summary['kl_t1']:.2f} bits at T=1, "
        f"{summary['kl_residual']:.2f} left at T={g:.3f}"
        + (f" ({explained:.1%} explained)" if explained is not None else "")
    )

    ent.plot(x, [r["entropy_a"] for r in rows], marker=".", label=f"tuned ({tuned})")
    ent.plot(x, [r["entropy_b"] for r in rows], marker=".", label=f"base ({base})")
    ent.set_ylabel("entropy (bits)")
    ent.legend(loc="upper right", fontsize="small")

    temp.plot(
        x, [r["best_t"] for r in rows], marker="o", linestyle="none", markersize=4, label="best T at the position"
    )
    temp.axhline(g, linestyle="--", color="C3", label=f"best single T = {g:.3f}")
    temp.axhline(1.0, linestyle=":", color="grey", label="T = 1")
    temp.set_yscale("log")
    drawn = [r["best_t"] for r in rows] + [g, 1.0]
    temp.set_yticks([t for t in TICKS if min(drawn) / 1.5 <= t <= max(drawn) * 1.5])
    temp.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.5, not 5x10^-1
    temp.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    temp.set_ylabel("temperature on the base")
    temp.legend(loc="best", fontsize="small")

    kl.plot(x, [r["kl_t1"] for r in rows], marker=".", label="KL at T = 1")
    kl.plot(x, [r["kl_at_global_t"] for r in rows], marker=".", label=f"KL at T = {g:.3f}")
    kl.plot(x, [r["kl_best"] for r in rows], marker=".", label="KL at the position's best T")
    kl.set_ylabel("KL(tuned || base_T) (bits)")
    kl.set_xlabel("token along the path")
    kl.legend(loc="upper right", fontsize="small")
    if len(rows) <= LABELLED:
        kl.set_xticks(x)
        kl.set_xticklabels([token_label(r["token"]) for r in rows], rotation=90, fontsize="small", parse_math=False)
    for ax in (ent, temp, kl):
        ax.grid(True, alpha=0.3)
