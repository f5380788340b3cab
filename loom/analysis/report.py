"""Attractor reports: group many sampled continuations by how they end.

Samples are grouped first by their exact (normalised) ending, then exact groups
whose endings are within a normalised edit distance of a bigger group's ending
join it. For each group: size, share, the modal continuation, mean and minimum
token probability; for the whole set: the entropy of the group distribution in
bits. Across a temperature sweep the groups are made once over all samples, so
that the same attractor is the same group at every temperature.
Pure functions: no store, no model.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

from rapidfuzz.distance import Levenshtein

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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Sample":
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
    clusters: list[tuple[str, list[str]]] = []  # (representative ending, endings in it)
    for ending, _ in ordered:
        for rep, members in clusters:
            if threshold > 0 and Levenshtein.normalized_distance(ending, rep) <= threshold:
                members.append(ending)
                break
        else:
            clusters.append((ending, [ending]))
    groups = []
    for rep, endings in clusters:
        idx = sorted(i for e in endings for i in exact[e])
        texts = Counter(samples[i].text for i in idx)
        modal, modal_count = texts.most_common(1)[0]
        probs = [p for i in idx for p in samples[i].probs]
        groups.append(Group(
            ending=rep, members=idx, modal=modal, modal_count=modal_count,
            mean_prob=sum(probs) / len(probs) if probs else None, min_prob=min(probs) if probs else None,
            endings={e: len(exact[e]) for e in endings},
        ))
    groups.sort(key=lambda g: (-g.size, g.members[0]))
    return groups


def summarise(samples: list[Sample], groups: list[Group]) -> dict:
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


def build_report(samples: list[Sample], threshold: float = 0.2, ending_words: int = 8) -> dict:
    """The whole report as plain data: groups over all samples, overall numbers,
    and, when samples come from several temperatures, the same groups counted
    per temperature (does heat escape the attractor?)."""
    groups = group_samples(samples, threshold, ending_words)
    label = {i: g for g, grp in enumerate(groups) for i in grp.members}
    report = {
        "threshold": threshold,
        "ending_words": ending_words,
        "overall": summarise(samples, groups),
        "groups": [
            {"group": g, "size": grp.size, "share": grp.size / len(samples), "ending": grp.ending,
             "modal": grp.modal, "modal_count": grp.modal_count, "mean_prob": grp.mean_prob,
             "min_prob": grp.min_prob, "endings": grp.endings, "members": grp.members,
             "nodes": [samples[i].node_id for i in grp.members if samples[i].node_id is not None]}
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
            per_group.append({"group": g, "size": c, "share": c / len(idx), "mean_prob": _mean(probs),
                              "min_prob": min(probs, default=None)})
        modal_group = per_group[0]["group"]
        report["temperatures"].append({
            "temperature": t, "n": len(idx), "groups": len(counts),
            "entropy_bits": entropy_bits(list(counts.values())),
            "modal_group": modal_group, "modal_share": per_group[0]["share"],
            # the share of the overall biggest group: the attractor, if there is one
            "group0_share": counts.get(0, 0) / len(idx),
            "mean_prob": _mean([p for s in sub for p in s.probs]),
            "min_prob": min((p for s in sub for p in s.probs), default=None),
            "by_group": per_group,
        })
    return report


def bar(share: float, width: int = 30) -> str:
    """A text bar for a 0-1 share (eighth-block resolution)."""
    cells = max(0.0, min(1.0, share)) * width
    full = int(cells)
    part = int((cells - full) * 8)
    return "\u2588" * full + ("" if part == 0 or full >= width else " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"[part])


def format_report(report: dict, width: int = 30, top: int = 10) -> str:
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
        lines.append(f"#{g['group']:<3}{g['size']:>4} {bar(g['share'], width):<{width}} p\u0304={mp} min={mn} \u2026{g['ending'][-50:]!r}")
    if len(report["groups"]) > top:
        rest = report["groups"][top:]
        lines.append(f"     (+{len(rest)} more groups, {sum(g['size'] for g in rest)} samples)")
    if len(report["temperatures"]) > 1:
        lines += ["", "temp     n  groups  entropy  modal  group#0  p\u0304"]
        for t in report["temperatures"]:
            mp = "-" if t["mean_prob"] is None else f"{t['mean_prob']:.2f}"
            lines.append(f"{t['temperature']:<5g}{t['n']:>5}{t['groups']:>8}{t['entropy_bits']:>9.2f}"
                         f"{t['modal_share']:>7.0%}{t['group0_share']:>9.0%}  {mp}")
    return "\n".join(lines)
