"""Global attractors: sample N continuations of each of many prompts (roots of
the session), cluster the endings of all samples pooled, and report which
clusters and user-defined attractors recur across prompts, each with its rate
per prompt and pooled (95% Wilson intervals) and the number of prompts it
occurs in (analysis.recurrence). Stored as a "global" record; `loom global`
and `loom.global_attractors()` run this."""

from __future__ import annotations

import secrets
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ..analysis.attractors import Attractor
from ..analysis.clusters import DEFAULT_ENDING_WORDS, DEFAULT_SIMILARITY, cluster_texts, ending_text
from ..analysis.recurrence import recurrence
from ..analysis.report import Sample
from ..backends.base import Backend
from ..store import Session
from ..tree import BranchDone, GenerationParams
from .base import Cancel, Counter, ProgressFn, Result, cancelled
from .replay import KEEP, ReplayError, sample_continuations

#: the experiment's own defaults in the settings resolver: samples per prompt
DEFAULTS = {"n": 16}
RECURRING = 2  # an outcome that occurs after at least this many prompts recurs


class GlobalError(ValueError):
    """A global-attractors run that cannot be done; the message says why."""


def prompt_roots(session: Session, prompts: list[str]) -> list[tuple[int, bool]]:
    """A root for each prompt: an existing root with exactly that text, else a
    new one; (root id, made now) per prompt, in order."""
    if not prompts:
        raise GlobalError("no prompts: give at least one (a file holds one prompt per line)")
    existing = {n.text: n.id for n in session.roots() if n.author == "prompt"}
    out = []
    for text in prompts:
        if text in existing:
            out.append((existing[text], False))
        else:
            root = session.add_node(None, text, "prompt")
            existing[text] = root.id
            out.append((root.id, True))
    return out


def read_prompts(text: str) -> list[str]:
    """One prompt per line of a file's text; blank lines are left out."""
    return [line for line in text.splitlines() if line.strip()]


class GlobalMeasured(TypedDict):
    """What GlobalResult measures from its samples (plain data, as stored)."""

    labels: list[int]  # each sample's meaning cluster
    clusters: list[dict[str, Any]]  # cluster, size, recurrence (analysis.recurrence), recurring, modal, ending
    attractors: list[dict[str, Any]]  # each attractor's definition with its recurrence
    members: dict[str, list[int]]  # attractor name -> 0/1 per sample


@dataclass
class GlobalResult(Result):
    kind = "global"

    prompts: list[dict[str, Any]]  # {"prompt": index, "root": node id, "text": the prompt}
    samples: list[Sample]
    prompt_of: list[int]  # each sample's prompt index
    attractors: list[Attractor]
    settings: dict[str, Any]  # cluster_similarity, cluster_words, recurring
    params: GenerationParams | None = None
    model: dict[str, Any] | None = None
    keep: str = "record"
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    record: int | None = None
    measured: GlobalMeasured = field(init=False)

    def __post_init__(self) -> None:
        self.measured = self._measure()

    def _measure(self) -> GlobalMeasured:
        texts = [s.text for s in self.samples]
        count, least = len(self.prompts), self.settings["recurring"]
        clustering = cluster_texts(texts, self.settings["cluster_similarity"], self.settings["cluster_words"])
        clusters = []
        for c in range(clustering.count):
            idx = clustering.members(c)
            rec = recurrence([lab == c for lab in clustering.labels], self.prompt_of, count)
            clusters.append(
                {
                    "cluster": c,
                    "size": len(idx),
                    **rec.to_dict(),
                    "recurring": rec.prompts >= least,
                    "modal": Tally(texts[i] for i in idx).most_common(1)[0][0],
                    "ending": Tally(ending_text(texts[i], self.settings["cluster_words"]) for i in idx).most_common(1)[
                        0
                    ][0],
                }
            )
        members = {a.name: a.members(texts) for a in self.attractors}
        attractors = [
            {**a.to_dict(), **recurrence(members[a.name], self.prompt_of, count).to_dict()} for a in self.attractors
        ]
        return {
            "labels": [int(x) for x in clustering.labels],
            "clusters": clusters,
            "attractors": attractors,
            "members": {k: [int(m) for m in v] for k, v in members.items()},
        }

    @property
    def clusters(self) -> list[dict[str, Any]]:
        return self.measured["clusters"]

    @property
    def recurring(self) -> list[dict[str, Any]]:
        """The clusters that occur after at least `recurring` prompts, the most widespread first."""
        return sorted(
            (c for c in self.clusters if c["recurring"]), key=lambda c: (-c["prompts"], -c["size"], c["cluster"])
        )

    def per_prompt(self) -> list[dict[str, Any]]:
        """A row per prompt: its samples, clusters, and the rate of each
        recurring cluster and each attractor after it."""
        out = []
        labels = self.measured["labels"]
        for p in self.prompts:
            i = p["prompt"]
            mine = [lab for lab, q in zip(labels, self.prompt_of) if q == i]
            out.append(
                {
                    **p,
                    "n": len(mine),
                    "clusters": len(set(mine)),
                    "top_cluster": Tally(mine).most_common(1)[0][0] if mine else None,
                    "recurring": {str(c["cluster"]): c["per_prompt"][i] for c in self.recurring},
                    "attractors": {a["name"]: a["per_prompt"][i] for a in self.measured["attractors"]},
                }
            )
        return out

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure (see loom.render.figures.global_figure); also written to
        `path` (PNG or SVG by the suffix) when given."""
        from ..render.figures import global_figure

        return global_figure(self.to_dict(), path, "attractors across prompts")

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "n": len(self.samples),
            "clusters": self.clusters,
            "recurring": [c["cluster"] for c in self.recurring],
            "attractors": self.measured["attractors"],
            "per_prompt": self.per_prompt(),
            "settings": dict(self.settings),
            "keep": self.keep,
            "samples": [{**s.to_dict(), "prompt": q} for s, q in zip(self.samples, self.prompt_of)],
            "notices": list(self.notices),
            "cancelled": self.cancelled,
            "record": self.record,
        }

    def record_params(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict() if self.params else None,
            "model": self.model,
            "keep": self.keep,
            "roots": [p["root"] for p in self.prompts],
            "attractors": [a.to_dict() for a in self.attractors],
            **self.settings,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per sample: its prompt, root and node, its meaning cluster
        (pooled over all prompts), whether that cluster recurs, 0/1 per attractor, its text."""
        labels, members = self.measured["labels"], self.measured["members"]
        recurs = {c["cluster"] for c in self.recurring}
        out = []
        for i, (s, q) in enumerate(zip(self.samples, self.prompt_of)):
            out.append(
                {
                    "sample": i,
                    "prompt": q,
                    "root": self.prompts[q]["root"],
                    "node": s.node_id,
                    "temperature": s.temperature,
                    "seed": s.seed,
                    "cluster": labels[i],
                    "recurring": int(labels[i] in recurs),
                    **{f"attractor_{name}": flags[i] for name, flags in members.items()},
                    "mean_logprob": s.mean_logprob,
                    "text": s.text,
                }
            )
        return out


def global_attractors(
    session: Session,
    backend: Backend,
    roots: list[int],
    params: GenerationParams,
    *,
    attractors: list[Attractor] | None = None,
    keep: str = "record",
    cluster_similarity: float = DEFAULT_SIMILARITY,
    cluster_words: int = DEFAULT_ENDING_WORDS,
    recurring: int = RECURRING,
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: Cancel | None = None,
) -> GlobalResult:
    """`params.n` continuations of each root in `roots` (each a prompt), the
    meaning clusters of all of them pooled and each attractor's rate, per
    prompt and pooled; stored as a record. `progress` counts finished samples;
    `cancel` stops and measures what finished."""
    params.validate()
    if keep not in KEEP:
        raise GlobalError(f"keep samples as one of {', '.join(KEEP)} (got {keep!r})")
    if not roots:
        raise GlobalError("no prompts: give a file of prompts, or a session with roots")
    if not isinstance(recurring, int) or recurring < 1:
        raise GlobalError(f"recurring must be a whole number of prompts, at least 1 (got {recurring!r})")
    names = [a.name for a in attractors or []]
    if len(set(names)) != len(names):
        raise GlobalError(f"attractor names must differ (got {', '.join(names)})")
    prompts = [{"prompt": i, "root": r, "text": session.node(r).text} for i, r in enumerate(roots)]
    count = Counter(progress, len(roots) * params.n, "samples")

    def listener(event: object) -> None:
        if isinstance(event, BranchDone):
            count.step()

    samples: list[Sample] = []
    prompt_of: list[int] = []
    notices: list[str] = []
    base = params.seed if params.seed is not None else secrets.randbelow(2**31)
    params = params.replace(seed=base)
    for i, root in enumerate(roots):
        if cancelled(cancel):
            break
        # seeds never shared between prompts: with the same random draws, a model that ignores its
        # prompt would write the same text after two prompts, and that would count as a recurrence
        own = params.replace(seed=base + i * params.n)
        got, notes = sample_continuations(session, backend, root, own, keep=keep, cancel=cancel, listener=listener)
        samples += got
        prompt_of += [i] * len(got)
        notices += [n for n in notes if n not in notices]
    if not samples:
        raise ReplayError("no sample finished" + (" (cancelled)" if cancelled(cancel) else ""))
    settings = {
        "cluster_similarity": float(cluster_similarity),
        "cluster_words": int(cluster_words),
        "recurring": recurring,
    }
    result = GlobalResult(
        prompts,
        samples,
        prompt_of,
        list(attractors or []),
        settings,
        params,
        backend.identity(),
        keep,
        notices,
        cancelled(cancel),
    )
    if save and not session.readonly:
        stored = {k: v for k, v in result.to_dict().items() if k != "record"}
        result.record = session.add_record(result.kind, None, result.record_params(), stored)
    return result


def format_global(result: GlobalResult, top: int = 10) -> str:
    """The run as text: the recurring clusters and the attractors, each pooled
    and per prompt. Model text goes through the caller's textsafe (the CLI's emit)."""
    from ..analysis.report import bar

    def rate(d: dict[str, Any]) -> str:
        return f"{d['k']}/{d['n']} = {d['rate']:.1%} [{d['lo']:.1%}, {d['hi']:.1%}]"

    count = len(result.prompts)
    lines = [
        f"global attractors: {count} prompts, {len(result.samples)} samples, "
        f"{len(result.clusters)} meaning clusters over all samples pooled "
        f"(ending = last {result.settings['cluster_words'] or 'all'} words, similarity >= "
        f"{result.settings['cluster_similarity']:g}); rates with 95% Wilson intervals",
        "",
    ]
    for p in result.prompts:
        lines.append(f"  #{p['prompt']:<3} root {p['root']:<5} {p['text'][:70]!r}")
    recurring = result.recurring
    lines += ["", f"clusters in at least {result.settings['recurring']} prompts: {len(recurring)}"]
    for c in recurring[:top]:
        lines.append(
            f"C{c['cluster']:<3} in {c['prompts']}/{count} prompts, pooled {rate(c)} {bar(c['rate'], 20)} "
            f"\u2026{c['ending'][-50:]!r}"
        )
        lines += [f"      #{pp['prompt']:<3} {rate(pp)}" for pp in c["per_prompt"]]
    if len(recurring) > top:
        lines.append(f"     (+{len(recurring) - top} more recurring clusters)")
    for a in result.measured["attractors"]:
        lines += [
            "",
            f"attractor {a['name']!r} ({a['definition']}): in {a['prompts']}/{count} prompts, pooled {rate(a)}",
        ]
        lines += [f"      #{pp['prompt']:<3} {rate(pp)} {bar(pp['rate'], 20)}" for pp in a["per_prompt"]]
    if result.cancelled:
        lines.append("(cancelled: the samples that finished)")
    return "\n".join(lines)
