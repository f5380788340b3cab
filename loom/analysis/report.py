"""Attractor reports: group many sampled continuations by how they end.

Samples are grouped first by their exact (normalised) ending, then exact groups
whose endings are within a normalised edit distance of a bigger group's ending
join it. For each group: size, share, the modal continuation, mean and minimum
token probability; for the whole set: the entropy of the group distribution in
bits. Across a temperature sweep the groups are made once over all samples, so
that the same attractor is the same group at every temperature.

Beside the literal groups, a report carries the measured view (see
measured()): meaning clusters of the endings (analysis.clusters), each with
its rate and 95% Wilson interval overall and per temperature; the diversity
of the field with bootstrap intervals (analysis.diversity); and the rate of
each user-defined attractor (analysis.attractors).
Pure functions: no store, no model.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ..textsafe import visible
from .attractors import Attractor, count_attractor
from .clusters import DEFAULT_ENDING_WORDS, DEFAULT_SIMILARITY, cluster_texts, ending_text
from .diversity import measure_diversity
from .intervals import BOOTSTRAP_RESAMPLES, Rate

DEFAULT_TEMPERATURES = (0.7, 1.0, 1.4, 1.9)


@dataclass
class Sample:
    text: str
    logprobs: list[float] = field(default_factory=list)  # raw log-probability of each token
    temperature: float | None = None
    node_id: int | None = None
    seed: int | None = None

    @property
    def probs(self) -> list[float]:
        return [math.exp(lp) for lp in self.logprobs]

    @property
    def mean_logprob(self) -> float | None:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None

    def to_dict(self) -> dict[str, Any]:
        # asdict() deep-copies every logprob: thousands of samples go into a report's record
        return {
            "text": self.text,
            "logprobs": list(self.logprobs),
            "temperature": self.temperature,
            "node_id": self.node_id,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(d["text"], list(d.get("logprobs") or []), d.get("temperature"), d.get("node_id"), d.get("seed"))


@dataclass
class Group:
    ending: str  # the normalised ending that represents the group (its most common one)
    members: list[int]  # indices into the samples
    modal: str  # the most common full continuation in the group
    modal_count: int
    mean_prob: float | None
    min_prob: float | None
    endings: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)


def ending_of(text: str, words: int = 8) -> str:
    """The last `words` words of a text, whitespace collapsed and case folded
    (0 = the whole text)."""
    parts = text.split()
    if words > 0:
        parts = parts[-words:]
    return " ".join(parts).casefold()


def entropy_bits(counts: list[int]) -> float:
    total = sum(counts)
    if not total:
        return 0.0
    h = -sum(c / total * math.log2(c / total) for c in counts if c)
    return h + 0.0  # no "-0.0"


def check_grouping(threshold: float, ending_words: int) -> None:
    if not 0 <= threshold <= 1:
        raise ValueError(f"grouping threshold must be from 0 to 1 (got {threshold!r})")
    if not isinstance(ending_words, int) or ending_words < 0:
        raise ValueError(f"ending length must be a whole number of words, 0 for the whole text (got {ending_words!r})")


def group_samples(samples: list[Sample], threshold: float = 0.2, ending_words: int = 8) -> list[Group]:
    """Groups, biggest first. `threshold` is the largest normalised Levenshtein
    distance (0-1) at which an ending joins a bigger group; 0 = exact endings only."""
    check_grouping(threshold, ending_words)
    exact: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        exact.setdefault(ending_of(s.text, ending_words), []).append(i)
    # biggest exact groups first; ties keep first appearance (dicts keep insertion order)
    ordered = sorted(exact.items(), key=lambda kv: -len(kv[1]))
    clusters = _join_near([e for e, _ in ordered], threshold)
    groups = []
    for rep, endings in clusters:
        idx = sorted(i for e in endings for i in exact[e])
        texts = Counter(samples[i].text for i in idx)
        modal, modal_count = texts.most_common(1)[0]
        probs = [p for i in idx for p in samples[i].probs]
        groups.append(
            Group(
                ending=rep,
                members=idx,
                modal=modal,
                modal_count=modal_count,
                mean_prob=sum(probs) / len(probs) if probs else None,
                min_prob=min(probs) if probs else None,
                endings={e: len(exact[e]) for e in endings},
            )
        )
    groups.sort(key=lambda g: (-g.size, g.members[0]))
    return groups


#: endings compared to the groups' representatives at a time (see _join_near)
JOIN_BLOCK = 256


def _join_near(endings: list[str], threshold: float) -> list[tuple[str, list[str]]]:
    """Each ending in turn joins the first group whose representative (its first
    ending) is within `threshold` normalised Levenshtein distance, or starts a
    group. The distances of a block of endings to every representative come from
    one call of rapidfuzz's cdist (bounded, in C); every join is then settled by
    Levenshtein.normalized_distance itself, so the groups are those of comparing
    each ending with each representative in turn, in quadratic Python."""
    clusters: list[tuple[str, list[str]]] = []  # (representative ending, endings in it)
    if threshold <= 0:
        return [(e, [e]) for e in endings]
    longest = max((len(e) for e in endings), default=0)
    cutoff = int(threshold * longest) + 1  # larger distances are all "too far"
    lengths = np.array([len(e) for e in endings])
    for lo in range(0, len(endings), JOIN_BLOCK):
        block = endings[lo : lo + JOIN_BLOCK]
        reps = [rep for rep, _ in clusters]
        old = _distances(block, reps, cutoff)
        new = _distances(block, block, cutoff)
        rep_len = np.array([len(r) for r in reps], dtype=float)
        started: list[int] = []  # the block's endings that started a group, by position in the block
        for i, ending in enumerate(block):
            near = old[i] <= threshold * np.maximum(rep_len, lengths[lo + i]) + 1e-9
            home = next((j for j in np.flatnonzero(near).tolist() if _near(ending, reps[j], threshold)), None)
            if home is None:
                home = next(
                    (
                        len(reps) + k
                        for k, s in enumerate(started)
                        if new[i, s] <= threshold * max(len(block[s]), len(ending)) + 1e-9
                        and _near(ending, block[s], threshold)
                    ),
                    None,
                )
            if home is None:
                started.append(i)
                clusters.append((ending, [ending]))
            else:
                clusters[home][1].append(ending)
    return clusters


def _distances(a: list[str], b: list[str], cutoff: int) -> npt.NDArray[np.int32]:
    """Levenshtein distances, a x b; those over `cutoff` as cutoff + 1."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.int32)
    out: npt.NDArray[np.int32] = process.cdist(
        a, b, scorer=Levenshtein.distance, dtype=np.int32, score_cutoff=cutoff, workers=1
    )
    return out


def _near(a: str, b: str, threshold: float) -> bool:
    return bool(Levenshtein.normalized_distance(a, b) <= threshold)


def summarise(samples: list[Sample], groups: list[Group]) -> dict[str, Any]:
    """Entropy of the group distribution, the modal group and probabilities over all samples."""
    n = len(samples)
    sizes = [g.size for g in groups]
    modal = groups[0] if groups else None
    return {
        "n": n,
        "groups": len(groups),
        "entropy_bits": entropy_bits(sizes),
        "max_entropy_bits": math.log2(n) if n else 0.0,
        "modal_share": modal.size / n if modal and n else 0.0,
        "modal_continuation": modal.modal if modal else "",
        "mean_prob": _mean([p for s in samples for p in s.probs]),
        "min_prob": min((p for s in samples for p in s.probs), default=None),
    }


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def build_report(
    samples: list[Sample],
    threshold: float = 0.2,
    ending_words: int = 8,
    *,
    attractors: list[Attractor] | None = None,
    cluster_similarity: float = DEFAULT_SIMILARITY,
    cluster_words: int = DEFAULT_ENDING_WORDS,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """The whole report as plain data: groups over all samples, overall numbers,
    and, when samples come from several temperatures, the same groups counted
    per temperature (does heat escape the attractor?); then the measured view
    (meaning clusters, diversity, attractors: see measured())."""
    report = literal_report(samples, threshold, ending_words)
    report.update(measured(samples, attractors or [], cluster_similarity, cluster_words, resamples))
    return report


def literal_report(samples: list[Sample], threshold: float = 0.2, ending_words: int = 8) -> dict[str, Any]:
    """Groups by literal ending (exact, then by edit distance)."""
    groups = group_samples(samples, threshold, ending_words)
    label = {i: g for g, grp in enumerate(groups) for i in grp.members}
    report: dict[str, Any] = {
        "threshold": threshold,
        "ending_words": ending_words,
        "overall": summarise(samples, groups),
        "groups": [
            {
                "group": g,
                "size": grp.size,
                "share": grp.size / len(samples),
                "ending": grp.ending,
                "modal": grp.modal,
                "modal_count": grp.modal_count,
                "mean_prob": grp.mean_prob,
                "min_prob": grp.min_prob,
                "endings": grp.endings,
                "members": grp.members,
                "nodes": [samples[i].node_id for i in grp.members if samples[i].node_id is not None],
            }
            for g, grp in enumerate(groups)
        ],
        "temperatures": [],
    }
    temps = sorted({s.temperature for s in samples if s.temperature is not None})
    for t in temps:
        idx = [i for i, s in enumerate(samples) if s.temperature == t]
        counts = Counter(label[i] for i in idx)
        sub = [samples[i] for i in idx]
        per_group = []
        for g, c in sorted(counts.items(), key=lambda gc: (-gc[1], gc[0])):
            probs = [p for i in idx if label[i] == g for p in samples[i].probs]
            per_group.append(
                {
                    "group": g,
                    "size": c,
                    "share": c / len(idx),
                    "mean_prob": _mean(probs),
                    "min_prob": min(probs, default=None),
                }
            )
        modal_group = per_group[0]["group"]
        report["temperatures"].append(
            {
                "temperature": t,
                "n": len(idx),
                "groups": len(counts),
                "entropy_bits": entropy_bits(list(counts.values())),
                "modal_group": modal_group,
                "modal_share": per_group[0]["share"],
                # the share of the overall biggest group: the attractor, if there is one
                "group0_share": counts.get(0, 0) / len(idx),
                "mean_prob": _mean([p for s in sub for p in s.probs]),
                "min_prob": min((p for s in sub for p in s.probs), default=None),
                "by_group": per_group,
            }
        )
    return report


def measured(
    samples: list[Sample],
    attractors: list[Attractor],
    cluster_similarity: float = DEFAULT_SIMILARITY,
    cluster_words: int = DEFAULT_ENDING_WORDS,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """Meaning clusters with rates and Wilson intervals (overall and per
    temperature), diversity with bootstrap intervals (overall and per
    temperature), and each attractor's rate. Every number is an int or a float."""
    texts = [s.text for s in samples]
    temps = [s.temperature for s in samples]
    n = len(samples)
    clustering = cluster_texts(texts, cluster_similarity, cluster_words)
    labels = clustering.labels
    mean_lps = [s.mean_logprob for s in samples]
    t_values = sorted({t for t in temps if t is not None})
    clusters = []
    for c in range(clustering.count):
        idx = clustering.members(c)
        modal, modal_count = Counter(texts[i] for i in idx).most_common(1)[0]
        probs = [p for i in idx for p in samples[i].probs]
        per_t = []
        for t in t_values:
            at_t = [i for i in range(n) if temps[i] == t]
            per_t.append({"temperature": float(t), **Rate.of(sum(labels[i] == c for i in at_t), len(at_t)).to_dict()})
        clusters.append(
            {
                "cluster": c,
                "size": len(idx),
                **_rate_fields(Rate.of(len(idx), n)),
                "modal": modal,
                "modal_count": modal_count,
                "ending": Counter(ending_text(texts[i], cluster_words) for i in idx).most_common(1)[0][0],
                "mean_prob": _mean(probs),
                "min_prob": min(probs, default=None),
                "members": idx,
                "nodes": [samples[i].node_id for i in idx if samples[i].node_id is not None],
                "temperatures": per_t,
            }
        )
    diversity = measure_diversity(labels, clustering.vectors, mean_lps, resamples=resamples).to_dict()
    by_temperature = []
    for t in t_values if len(t_values) > 1 else ():  # one temperature: the same as overall
        at_t = [i for i in range(n) if temps[i] == t]
        sub = clustering.vectors.subset(at_t)
        by_temperature.append(
            {
                "temperature": float(t),
                **measure_diversity(
                    [labels[i] for i in at_t], sub, [mean_lps[i] for i in at_t], resamples=resamples
                ).to_dict(),
            }
        )
    rates = [count_attractor(a, texts, temps) for a in attractors]
    names = [a.name for a in attractors]
    if len(set(names)) != len(names):
        raise ValueError(f"attractor names must differ (got {', '.join(names)})")
    return {
        "cluster_similarity": float(cluster_similarity),
        "cluster_words": int(cluster_words),
        "clusters": clusters,
        "diversity": {**diversity, "temperatures": by_temperature},
        "attractors": [r.to_dict() for r in rates],
        "per_sample": {
            "cluster": [int(x) for x in labels],
            "attractors": {r.attractor.name: [int(m) for m in r.member] for r in rates},
        },
    }


def _rate_fields(r: Rate) -> dict[str, Any]:
    d = r.to_dict()
    return {"rate": d["rate"], "lo": d["lo"], "hi": d["hi"]}


SAMPLE_COLUMNS = ("sample", "node", "temperature", "seed", "cluster")


def sample_rows(report: dict[str, Any], samples: list[Sample]) -> tuple[list[str], list[list[Any]]]:
    """One row per sample for a CSV: index, node id (None if kept only in the
    record), temperature, seed, meaning cluster, 0/1 per attractor, mean
    token logprob, text. Values stay numbers (the writer decides the text form)."""
    per = report["per_sample"]
    names = list(per["attractors"])
    header = [*SAMPLE_COLUMNS, *(f"attractor_{a}" for a in names), "mean_logprob", "text"]
    rows = []
    for i, s in enumerate(samples):
        rows.append(
            [
                i,
                s.node_id,
                s.temperature,
                s.seed,
                per["cluster"][i],
                *(per["attractors"][a][i] for a in names),
                s.mean_logprob,
                s.text,
            ]
        )
    return header, rows


def _interval(d: dict[str, Any]) -> str:
    return f"{d['rate']:.1%} [{d['lo']:.1%}, {d['hi']:.1%}]"


def _estimate(d: dict[str, Any], fmt: str = ".2f") -> str:
    return f"{d['value']:{fmt}} [{d['lo']:{fmt}}, {d['hi']:{fmt}}]"


def format_measured(report: dict[str, Any], width: int = 30, top: int = 10) -> list[str]:
    """The clusters, diversity and attractor lines of the text report (model
    text through textsafe.visible: it goes to a terminal)."""
    if "clusters" not in report:  # a report stored before these numbers existed
        return []
    d = report["diversity"]
    lines = [
        "",
        f"meaning clusters (ending = last {report['cluster_words'] or 'all'} words, character n-gram similarity "
        f">= {report['cluster_similarity']:g}): {len(report['clusters'])}; share with 95% Wilson interval",
    ]
    for c in report["clusters"][:top]:
        lines.append(
            f"C{c['cluster']:<3}{c['size']:>4} {bar(c['rate'], width):<{width}} {_interval(c):<24} "
            f"\u2026{visible(c['ending'][-50:])!r}"
        )
    if len(report["clusters"]) > top:
        rest = report["clusters"][top:]
        lines.append(f"     (+{len(rest)} more clusters, {sum(c['size'] for c in rest)} samples)")
    if report["clusters"]:
        lines.append(f"modal text of C0: {visible(report['clusters'][0]['modal'])!r}")
    iv = f"bootstrap 95% intervals, {d['semantic_entropy_bits']['resamples']} resamples"
    lines += [
        "",
        f"diversity ({iv}):",
        f"  semantic entropy {_estimate(d['semantic_entropy_bits'])} bits"
        + (
            f", probability-weighted {_estimate(d['weighted_semantic_entropy_bits'])} bits"
            if d["weighted_semantic_entropy_bits"]
            else ""
        ),
        f"  distinct-{d['k']} {_estimate(d['distinct_k'])}   Vendi score {_estimate(d['vendi'])} (of n={d['n']})",
    ]
    if len(d["temperatures"]) > 1:
        lines.append("  temp     n  clusters  sem.entropy            Vendi                C0 share")
        c0 = {t["temperature"]: t for t in report["clusters"][0]["temperatures"]} if report["clusters"] else {}
        for t in d["temperatures"]:
            share = _interval(c0[t["temperature"]]) if t["temperature"] in c0 else "-"
            lines.append(
                f"  {t['temperature']:<5g}{t['n']:>5}{t['clusters']:>10}  {_estimate(t['semantic_entropy_bits']):<21}"
                f"  {_estimate(t['vendi']):<19}  {share}"
            )
    for a in report["attractors"]:
        lines += [
            "",
            f"attractor {visible(a['name'])!r} ({visible(a['definition'])}): {a['k']}/{a['n']} = {_interval(a)}",
        ]
        if len(a["temperatures"]) > 1:
            lines += [
                f"  T={t['temperature']:<5g} {t['k']:>4}/{t['n']:<4} {bar(t['rate'], 20):<20} {_interval(t)}"
                for t in a["temperatures"]
            ]
        if a["modal"]:
            lines.append(f"  modal member ({a['modal_count']}\u00d7): {visible(a['modal'])!r}")
    return lines


def bar(share: float, width: int = 30) -> str:
    """A text bar for a 0-1 share (eighth-block resolution)."""
    cells = max(0.0, min(1.0, share)) * width
    full = int(cells)
    part = int((cells - full) * 8)
    return "\u2588" * full + ("" if part == 0 or full >= width else " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"[part])


def format_report(report: dict[str, Any], width: int = 30, top: int = 10) -> str:
    """The report as plain text (the CLI's output): bar chart of group sizes,
    then the temperature table."""
    o = report["overall"]
    lines = [
        f"{o['n']} samples, {o['groups']} groups (ending = last {report['ending_words'] or 'all'} words, "
        f"distance <= {report['threshold']:g}); entropy {o['entropy_bits']:.2f} bits "
        f"(max {o['max_entropy_bits']:.2f}); modal group {o['modal_share']:.0%}",
        f"modal continuation: {o['modal_continuation']!r}",
        "",
    ]
    for g in report["groups"][:top]:
        mp = "-" if g["mean_prob"] is None else f"{g['mean_prob']:.2f}"
        mn = "-" if g["min_prob"] is None else f"{g['min_prob']:.2f}"
        lines.append(
            f"#{g['group']:<3}{g['size']:>4} {bar(g['share'], width):<{width}} p\u0304={mp} min={mn} \u2026{g['ending'][-50:]!r}"
        )
    if len(report["groups"]) > top:
        rest = report["groups"][top:]
        lines.append(f"     (+{len(rest)} more groups, {sum(g['size'] for g in rest)} samples)")
    if len(report["temperatures"]) > 1:
        lines += ["", "temp     n  groups  entropy  modal  group#0  p\u0304"]
        for t in report["temperatures"]:
            mp = "-" if t["mean_prob"] is None else f"{t['mean_prob']:.2f}"
            lines.append(
                f"{t['temperature']:<5g}{t['n']:>5}{t['groups']:>8}{t['entropy_bits']:>9.2f}"
                f"{t['modal_share']:>7.0%}{t['group0_share']:>9.0%}  {mp}"
            )
    return "\n".join(lines + format_measured(report, width, top))
