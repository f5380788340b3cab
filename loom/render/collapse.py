"""The collapse-versus-temperature figure (matplotlib, PNG or SVG): along the
path, the entropy of both models; each position's best temperature on the base
model beside the single best one; and the KL at T=1, at that single T and at
each position's own best T.

Drawn on a matplotlib Figure without pyplot (the Agg canvas for PNG), so it
never opens a window or changes a notebook's backend. matplotlib is the
optional `plot` extra, imported only here, when a figure is asked for. Model
text (token labels, model names) is made visible and never parsed as mathtext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..textsafe import visible
from .svg import RenderError

FORMATS = (".png", ".svg")
LABELLED = 60  # at most this many positions get their token as the tick label
TICKS = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)  # temperatures labelled on the log axis


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise RenderError("figures need matplotlib: pip install 'loom-multiverse[plot]'") from exc
    return Figure, FigureCanvasAgg, FuncFormatter


def _label(text: str) -> str:
    shown = visible(repr(text)[1:-1])
    return shown if len(shown) <= 12 else shown[:11] + "…"


def check_figure(path: str | Path) -> Path:
    """Refuse a figure that cannot be written (a suffix that is not .png or .svg, no
    matplotlib) before any work is done."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise RenderError(f"{p}: a figure is written as {' or '.join(FORMATS)} (by the file's suffix)")
    _matplotlib()
    return p


def write_collapse_figure(rows: list[dict[str, Any]], summary: dict[str, Any], path: str | Path) -> Path:
    """Write the figure for a collapse result (its rows() and to_dict()) to `path` (.png or .svg)."""
    p = check_figure(path)
    if not rows:
        raise RenderError("no positions to draw")
    Figure, FigureCanvasAgg, FuncFormatter = _matplotlib()
    x = list(range(len(rows)))
    tuned, base = visible(summary["tuned"]["name"]), visible(summary["base"]["name"])
    g = summary["global_t"]
    fig = Figure(figsize=(max(8.0, min(24.0, 0.22 * len(rows) + 4)), 9), layout="constrained")
    FigureCanvasAgg(fig)
    ent, temp, kl = fig.subplots(3, 1, sharex=True)
    explained = summary.get("share_explained")
    fig.suptitle(f"collapse vs temperature · node {summary['node']} · tuned {tuned} vs base {base}\n"
                 f"best single T on the base = {g:.3f}; KL {summary['kl_t1']:.2f} bits at T=1, "
                 f"{summary['kl_residual']:.2f} left at T={g:.3f}"
                 + (f" ({explained:.1%} explained)" if explained is not None else ""), parse_math=False)

    ent.plot(x, [r["entropy_a"] for r in rows], marker=".", label=f"tuned ({tuned})")
    ent.plot(x, [r["entropy_b"] for r in rows], marker=".", label=f"base ({base})")
    ent.set_ylabel("entropy (bits)")
    ent.legend(loc="upper right", fontsize="small")

    temp.plot(x, [r["best_t"] for r in rows], marker="o", linestyle="none", markersize=4, label="best T at the position")
    temp.axhline(g, linestyle="--", color="C3", label=f"best single T = {g:.3f}")
    temp.axhline(1.0, linestyle=":", color="grey", label="T = 1")
    temp.set_yscale("log")
    shown = [r["best_t"] for r in rows] + [g, 1.0]
    temp.set_yticks([t for t in TICKS if min(shown) / 1.5 <= t <= max(shown) * 1.5])
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
        kl.set_xticklabels([_label(r["token"]) for r in rows], rotation=90, fontsize="small", parse_math=False)
    for ax in (ent, temp, kl):
        ax.grid(True, alpha=0.3)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, format=p.suffix[1:].lower(), metadata={"Date": None} if p.suffix.lower() == ".svg" else None)
    except OSError as exc:
        raise RenderError(f"{p}: cannot write the figure ({exc.strerror or exc})") from exc
    return p
