"""Figures of the attractor experiments (matplotlib, PNG or SVG; see render.plotting):

- a report: each attractor's rate (or the biggest meaning cluster's) against
  temperature with its 95% Wilson interval, beside the semantic entropy with its
  bootstrap interval; at one temperature, the clusters' shares as bars;
- scored candidates: the probability of each candidate in the candidates' own
  order (0..100 for the numbers), one panel per model, the panels aligned;
- a sweep: one row per perturbation along the original continuation, where it
  diverged and where (and whether) it reconverged.

Each takes plain data (a result's to_dict() or rows()) and returns the Figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .plotting import make_figure, percent_axis, shown, text_label, token_label
from .svg import RenderError

MAX_BARS = 12  # clusters shown as bars; the rest are summed in the title
LABELLED = 40  # at most this many candidates get every tick labelled


def _errors(points: list[dict[str, Any]], key: str = "rate") -> list[list[float]]:
    """matplotlib's asymmetric error bars (below, above) from value/lo/hi dicts."""
    return [[max(0.0, p[key] - p["lo"]) for p in points], [max(0.0, p["hi"] - p[key]) for p in points]]


# -- report ---------------------------------------------------------------------------


def report_series(report: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """What the report figure draws against temperature: each defined attractor
    (name, its per-temperature rates), else the biggest meaning cluster."""
    if report.get("attractors"):
        return [
            (f"{text_label(a['name'], 24)} ({text_label(a['definition'], 40)})", a["temperatures"])
            for a in report["attractors"]
        ]
    if report.get("clusters"):
        c = report["clusters"][0]
        return [(f"C0, the biggest meaning cluster: …{text_label(c['ending'][-40:], 40)}", c["temperatures"])]
    return []


def report_figure(report: dict[str, Any], path: str | Path | None = None, title: str = "") -> Any:
    """The figure of an attractor report (analysis.report.build_report's data)."""
    if "clusters" not in report:
        raise RenderError("this report was stored before meaning clusters were measured: nothing to draw")
    series = report_series(report)
    temps = {t["temperature"] for _, points in series for t in points}
    if len(temps) > 1:
        return make_figure(lambda fig: _rates_by_temperature(fig, report, series, title), (11, 4.6), path)
    rows = min(MAX_BARS, len(report["clusters"])) + len(report.get("attractors") or [])
    return make_figure(lambda fig: _shares(fig, report, title), (9, 1.6 + 0.38 * rows), path)


def _rates_by_temperature(
    fig: Any, report: dict[str, Any], series: list[tuple[str, list[dict[str, Any]]]], title: str
) -> None:
    rate_ax, ent_ax = fig.subplots(1, 2, width_ratios=(3, 2))
    for i, (label, points) in enumerate(series):
        points = sorted(points, key=lambda p: p["temperature"])
        rate_ax.errorbar(
            [p["temperature"] for p in points],
            [p["rate"] for p in points],
            yerr=_errors(points),
            marker="os^Dv<>"[i % 7],
            capsize=4,
            label=label,
        )
    rate_ax.set_ylim(-0.03, 1.03)
    percent_axis(rate_ax.yaxis)
    rate_ax.set_xlabel("temperature")
    rate_ax.set_ylabel("share of samples (95% Wilson interval)")
    rate_ax.set_title("attractor rate against temperature", fontsize="medium")
    rate_ax.legend(loc="best", fontsize="small")
    by_t = sorted(report["diversity"].get("temperatures") or [], key=lambda t: t["temperature"])
    if by_t:
        sem = [t["semantic_entropy_bits"] for t in by_t]
        ent_ax.errorbar(
            [t["temperature"] for t in by_t],
            [s["value"] for s in sem],
            yerr=_errors(sem, "value"),
            marker="o",
            capsize=4,
            color="C2",
        )
    ent_ax.set_xlabel("temperature")
    ent_ax.set_ylabel("semantic entropy (bits, bootstrap 95%)")
    ent_ax.set_title("diversity of the endings", fontsize="medium")
    for ax in (rate_ax, ent_ax):
        ax.grid(True, alpha=0.3)
    n = report["overall"]["n"]
    fig.suptitle(shown(f"{title}{' · ' if title else ''}{n} samples, {len(report['clusters'])} meaning clusters"))


def _shares(fig: Any, report: dict[str, Any], title: str) -> None:
    clusters = report["clusters"][:MAX_BARS]
    attractors = report.get("attractors") or []
    axes = fig.subplots(2, 1, height_ratios=(len(clusters) or 1, len(attractors))) if attractors else [fig.subplots()]
    ax = axes[0]
    labels = [f"C{c['cluster']} ({c['size']}) …{text_label(c['ending'][-32:], 32)}" for c in clusters]
    ax.barh(range(len(clusters)), [c["rate"] for c in clusters], xerr=_errors(clusters), capsize=3, color="C0")
    ax.set_yticks(range(len(clusters)), labels, fontsize="small", parse_math=False)
    rest = report["clusters"][MAX_BARS:]
    # on its own line: beside the title it runs past the figure's right edge
    more = f"\n(+{len(rest)} smaller clusters, {sum(c['size'] for c in rest)} samples)" if rest else ""
    ax.set_title(f"meaning clusters: share of samples with 95% Wilson interval{more}", fontsize="medium")
    if attractors:
        at = axes[1]
        at.barh(
            range(len(attractors)), [a["rate"] for a in attractors], xerr=_errors(attractors), capsize=3, color="C3"
        )
        at.set_yticks(
            range(len(attractors)),
            [f"{text_label(a['name'], 24)} ({a['k']}/{a['n']})" for a in attractors],
            fontsize="small",
            parse_math=False,
        )
        at.set_title("defined attractors", fontsize="medium")
    for a in axes:
        a.invert_yaxis()  # the biggest first, at the top
        a.set_xlim(0, 1)
        percent_axis(a.xaxis)
        a.grid(True, axis="x", alpha=0.3)
    n = report["overall"]["n"]
    fig.suptitle(shown(f"{title}{' · ' if title else ''}{n} samples, {len(report['clusters'])} meaning clusters"))


# -- scored candidates ----------------------------------------------------------------


def scores_figure(entries: list[dict[str, Any]], path: str | Path | None = None, title: str = "") -> Any:
    """One panel per scored run (a ScoreResult's to_dict(): model, candidates with
    prob, entropy), each candidate's probability in the candidates' own order."""
    if not entries or any(not e["candidates"] for e in entries):
        raise RenderError("no scored candidates to draw")
    n = max(len(e["candidates"]) for e in entries)
    size = (max(8.0, min(24.0, 0.11 * n + 4)), 0.6 + 2.7 * len(entries))
    return make_figure(lambda fig: _scores(fig, entries, title), size, path)


def _scores(fig: Any, entries: list[dict[str, Any]], title: str) -> None:
    same = all([c["text"] for c in e["candidates"]] == [c["text"] for c in entries[0]["candidates"]] for e in entries)
    axes = fig.subplots(len(entries), 1, sharex=same, sharey=True, squeeze=False)[:, 0]
    for i, (ax, e) in enumerate(zip(axes, entries)):
        cands = [c["text"] for c in e["candidates"]]
        probs = [c["prob"] for c in e["candidates"]]
        top = max(range(len(probs)), key=probs.__getitem__)
        colours = [f"C{i}"] * len(probs)
        colours[top] = "C3"
        ax.bar(range(len(probs)), probs, width=0.8, color=colours)
        what = "P(as a complete answer)" if e.get("answer") == "complete" else "P(text)"
        ax.set_title(
            f"{text_label(e['model'], 40)} · top {token_label(cands[top], 16)} ({probs[top]:.1%}, red) · entropy "
            f"{e['entropy_bits']:.2f} of {math.log2(len(cands)):.2f} bits",
            fontsize="medium",
        )
        ax.set_ylabel(f"{what}\nnormalised", fontsize="small")
        percent_axis(ax.yaxis)
        ax.grid(True, axis="y", alpha=0.3)
        step = 1 if len(cands) <= LABELLED else 10 if len(cands) <= 400 else math.ceil(len(cands) / 40)
        ticks = list(range(0, len(cands), step))
        labels = [token_label(cands[t], 10) for t in ticks]
        ax.set_xticks(
            ticks, labels, rotation=90 if max(map(len, labels)) > 3 else 0, fontsize="small", parse_math=False
        )
        ax.set_xlim(-0.8, len(cands) - 0.2)
    axes[-1].set_xlabel("candidate (in the order given)")
    fig.suptitle(shown(title or "scored candidates"))


# -- sweep ----------------------------------------------------------------------------

STATUS_COLOURS = {"identical": "C2", "reconverged": "C2", "diverged": "C3", "cancelled": "0.6"}


def _length(item: dict[str, Any]) -> float | None:
    """The original continuation's length in units (stored since figures exist;
    older records: the furthest position they name)."""
    units: float | None = item.get("units")
    if units is not None:
        return units
    marks = [item.get("divergence")] + list(item.get("reconvergence") or [])
    return max((m for m in marks if m is not None), default=None)


def sweep_figure(result: dict[str, Any], path: str | Path | None = None, title: str = "") -> Any:
    """One row per perturbation of a sweep (its to_dict()): along the original
    continuation, where the replay diverged (◆) and where it reconverged (●, the
    shared stretch after it in green); a replay that never came back is red."""
    items = result["items"]
    if not items:
        raise RenderError("the sweep has no perturbations to draw")
    return make_figure(lambda fig: _sweep(fig, result, title), (10, 2.0 + 0.45 * len(items)), path)


def _sweep(fig: Any, result: dict[str, Any], title: str) -> None:
    items = result["items"]
    ax = fig.subplots()
    ends = [_length(it) for it in items]
    longest = max((e for e in ends if e), default=1)
    div_x, div_y, rec_x, rec_y = [], [], [], []
    for y, (it, end) in enumerate(zip(items, ends)):
        status = it.get("status") or "cancelled"
        end = end or longest
        ax.hlines(y, 0, end, color="0.8", linewidth=6)  # the original continuation
        if status == "identical":
            ax.hlines(y, 0, end, color=STATUS_COLOURS["identical"], linewidth=6)
        elif status == "cancelled":
            ax.text(0, y, " cancelled", va="center", fontsize="small", color="0.4")
        else:
            d = it.get("divergence") or 0
            ax.hlines(y, 0, d, color="0.45", linewidth=6)  # shared before the divergence
            div_x.append(d)
            div_y.append(y)
            rc = it.get("reconvergence")
            if rc:
                ax.hlines(y, rc[0], end, color=STATUS_COLOURS["reconverged"], linewidth=6, alpha=0.7)
                rec_x.append(rc[0])
                rec_y.append(y)
            else:
                ax.hlines(y, d, end, color=STATUS_COLOURS["diverged"], linewidth=2)
    ax.scatter(div_x, div_y, marker="D", s=40, color="black", zorder=3, label="diverged here")
    ax.scatter(
        rec_x,
        rec_y,
        marker="o",
        s=60,
        color=STATUS_COLOURS["reconverged"],
        edgecolor="black",
        zorder=3,
        label="reconverged here",
    )
    labels = [
        f"{it.get('status') or 'cancelled'} · {text_label(it['kind'], 18)}: {text_label(it['description'], 36)}"
        for it in items
    ]
    ax.set_yticks(range(len(items)), labels, fontsize="small", parse_math=False)
    for tick, it in zip(ax.get_yticklabels(), items):
        tick.set_color(STATUS_COLOURS.get(it.get("status") or "cancelled", "black"))
    ax.invert_yaxis()
    ax.set_xlim(-0.5, longest + 0.5)
    level = next((it["level"] for it in items if it.get("level")), None)
    ax.set_xlabel(
        f"position in the original continuation ({level}s)" if level else "position in the original continuation"
    )
    ax.grid(True, axis="x", alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="0.45", linewidth=6, label="as the original"),
        *ax.get_legend_handles_labels()[0],
        Line2D(
            [],
            [],
            color=STATUS_COLOURS["reconverged"],
            linewidth=6,
            alpha=0.7,
            label="identical, or shared from the reconvergence on",
        ),
        Line2D([], [], color=STATUS_COLOURS["diverged"], linewidth=2, label="never came back"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    s = result["summary"]
    fig.suptitle(
        shown(
            f"{title}{' · ' if title else ''}{s['reconverged']}/{s['perturbations']} reconverged "
            f"(a shared run of >= {result['run']}), {s['identical']} identical"
        )
    )


# -- forks and global attractors --------------------------------------------------------


def forks_figure(result: dict[str, Any], path: str | Path | None = None, title: str = "") -> Any:
    """The outcome rate at each position of the path (95% interval), the forking
    tokens (red) and the point of no return (green)."""
    if not result.get("positions"):
        raise RenderError("this forks run has no finished position: nothing to draw")
    return make_figure(lambda fig: _forks(fig, result, title), (11, 4.4), path)


def _forks(fig: Any, result: dict[str, Any], title: str) -> None:
    ax = fig.subplots()
    pos = result["positions"]
    xs = [p["position"] for p in pos]
    ax.errorbar(
        xs,
        [p["rate"] for p in pos],
        yerr=_errors(pos),
        marker="o",
        capsize=3,
        color="C0",
        label="outcome rate, the path's token and its alternatives mixed by probability",
    )
    for f in result.get("forks") or []:
        ax.axvline(f["position"], color="C3", alpha=0.7)
        ax.annotate(
            token_label(f["token"]),
            (f["position"], 1.02),
            color="C3",
            ha="center",
            fontsize="small",
            annotation_clip=False,
        )
    back = result.get("point_of_no_return")
    if back:
        ax.axvline(
            back["position"], color="C2", linestyle="--", label=f"point of no return: {token_label(back['token'])}"
        )
    if len(pos) <= 40:
        ax.set_xticks(xs, [token_label(p["token"], 8) for p in pos], rotation=60, fontsize="x-small", parse_math=False)
    ax.set_ylim(-0.03, 1.08)
    percent_axis(ax.yaxis)
    ax.set_xlabel("position on the path")
    ax.set_ylabel(f"share ending in {text_label(str(result.get('outcome') or 'the attractor'), 30)}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    forks = len(result.get("forks") or [])
    fig.suptitle(
        shown(f"{title}{' · ' if title else ''}{len(pos)} positions, {forks} forking token{'s' if forks != 1 else ''}")
    )


def global_figure(result: dict[str, Any], path: str | Path | None = None, title: str = "", most: int = 4) -> Any:
    """Each defined attractor (else the biggest meaning clusters) per prompt and
    pooled, with 95% Wilson intervals."""
    series = [(f"{text_label(a['name'], 20)}", a) for a in result.get("attractors") or []]
    series = series or [
        (f"C{c['cluster']} …{text_label(c['ending'][-28:], 28)}", c) for c in (result.get("clusters") or [])[:most]
    ]
    if not series:
        raise RenderError("this run has no attractor or cluster to draw")
    return make_figure(lambda fig: _global(fig, result, series, title), (11, 4.4), path)


def _global(fig: Any, result: dict[str, Any], series: list[tuple[str, dict[str, Any]]], title: str) -> None:
    ax = fig.subplots()
    prompts = result.get("prompts") or []
    width = 0.8 / len(series)
    for i, (label, s) in enumerate(series):
        per = sorted(s.get("per_prompt") or [], key=lambda p: p["prompt"])
        xs = [p["prompt"] + (i - (len(series) - 1) / 2) * width for p in per]
        ax.bar(
            xs,
            [p["rate"] for p in per],
            width,
            yerr=_errors(per),
            capsize=3,
            color=f"C{i}",
            label=f"{label}: pooled {s['rate']:.1%} [{s['lo']:.1%}, {s['hi']:.1%}]",
        )
    ax.set_xticks(range(len(prompts)), [text_label(p["text"], 18) for p in prompts], fontsize="small", parse_math=False)
    ax.set_ylim(0, 1.05)
    percent_axis(ax.yaxis)
    ax.set_ylabel("share of the prompt's samples (95% Wilson)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.suptitle(shown(f"{title}{' · ' if title else ''}{len(prompts)} prompts, {result.get('n')} samples"))
