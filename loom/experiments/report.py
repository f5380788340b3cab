"""The attractor report: sample many continuations of a node (or take its
existing children), group them by how they end, and keep the result as a
"report" record. The CLI's `loom report`, the app's A and `loom.report()` all
run this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.attractors import Attractor
from ..analysis.report import Sample, build_report, check_grouping, sample_rows
from ..backends.base import Backend
from ..store import Session
from ..tree import BranchDone, GenerationParams
from .base import Cancel, Counter, ProgressFn, Result, cancelled
from .replay import ReplayError, sample_continuations, samples_from_children

THRESHOLD = 0.2
ENDING_WORDS = 8
#: the measured view's settings (analysis.report.build_report's keywords) besides the attractors
MEASURE = ("cluster_similarity", "cluster_words", "resamples")


@dataclass
class ReportResult(Result):
    kind = "report"

    node_id: int
    samples: list[Sample]
    report: dict[str, Any]  # analysis.report.build_report's plain data
    params: GenerationParams | None  # None: the node's existing children, nothing generated
    temperatures: list[float] | None
    keep: str  # "nodes", "record", or "nodes" for existing children
    model: dict[str, Any] | None = None  # the backend's identity
    #: how the measured view was made: attractors, cluster_similarity, cluster_words, resamples
    measure: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    cancelled: bool = False
    record: int | None = None

    @property
    def overall(self) -> dict[str, Any]:
        overall: dict[str, Any] = self.report["overall"]
        return overall

    def to_dict(self) -> dict[str, Any]:
        """The stored record's result (the report, its samples) and the record id."""
        return {**self.report, "samples": [s.to_dict() for s in self.samples], "keep": self.keep, "record": self.record}

    def record_params(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict() if self.params else None,
            "model": self.model,
            "temperatures": self.temperatures,
            "threshold": self.report["threshold"],
            "ending_words": self.report["ending_words"],
            "keep": self.keep,
            **{k: v for k, v in self.measure.items() if k != "attractors"},
            "attractors": [a.to_dict() for a in self.measure.get("attractors") or []],
        }

    def measured(self) -> dict[str, Any]:
        """The report with its measured view (a record from before it existed is measured again)."""
        if "per_sample" in self.report:
            return self.report
        return build_report(self.samples, self.report["threshold"], self.report["ending_words"], **self.measure)

    def rows(self) -> list[dict[str, Any]]:
        """One row per sample: where it came from, its meaning cluster, 0/1 per
        attractor, its mean token logprob and its text (the CSV of `loom report --csv`)."""
        header, rows = sample_rows(self.measured(), self.samples)
        return [dict(zip(header, r)) for r in rows]

    def _repr_html_(self) -> str:
        """The report as a notebook shows it: the meaning clusters and any
        attractors with their rates and 95% Wilson intervals, then the samples."""
        from ..render.tables import interval, table

        o = self.overall
        head = (
            f"<p><b>report on node {self.node_id}</b>"
            + ("" if self.record is None else f" · record {self.record}")
            + f" · {o['n']} samples · entropy {o['entropy_bits']:.2f} of {o['max_entropy_bits']:.2f} bits</p>"
        )
        clusters = [
            {
                "cluster": c["cluster"],
                "size": c["size"],
                "rate (95% CI)": interval(c["rate"], c["lo"], c["hi"]),
                "modal": c["modal"],
            }
            for c in self.report.get("clusters") or []
        ]
        attractors = [
            {
                "attractor": a.get("name"),
                "definition": a.get("definition"),
                "rate (95% CI)": interval(a.get("rate"), a.get("lo"), a.get("hi")),
            }
            for a in self.report.get("attractors") or []
        ]
        parts = [head, table(clusters, caption="meaning clusters", limit=10)]
        if attractors:
            parts.append(table(attractors, caption="attractors"))
        parts.append(table(self.rows(), caption="samples", limit=10))
        return "".join(parts)

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: each attractor's rate (else the biggest meaning
        cluster's) against temperature with 95% Wilson intervals beside the semantic
        entropy; at one temperature, the clusters' shares as bars. Also written to
        `path` (PNG or SVG by the suffix) when given."""
        from ..render.figures import report_figure

        model = (self.model or {}).get("name")
        return report_figure(self.measured(), path, f"report on node {self.node_id}" + (f" · {model}" if model else ""))

    def regroup(self, threshold: float, ending_words: int, **measure: Any) -> ReportResult:
        """The same samples grouped and measured again (nothing is sampled or
        stored); `measure` replaces the attractors or cluster settings given."""
        how = {**self.measure, **measure}
        return ReportResult(
            self.node_id,
            self.samples,
            build_report(self.samples, threshold, ending_words, **how),
            self.params,
            self.temperatures,
            self.keep,
            self.model,
            how,
            list(self.notices),
            self.cancelled,
            self.record,
        )

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ReportResult:
        """A stored report, as it was made."""
        r, p = rec["result"], rec["params"] or {}
        samples = [Sample.from_dict(s) for s in r.get("samples") or []]
        report = {k: v for k, v in r.items() if k not in ("samples", "keep", "record")}
        params = GenerationParams.from_dict(p["params"]) if p.get("params") else None
        measure = {k: p[k] for k in MEASURE if k in p}
        measure["attractors"] = [Attractor.from_dict(a) for a in p.get("attractors") or []]
        return cls(
            rec["node_id"],
            samples,
            report,
            params,
            p.get("temperatures"),
            r.get("keep", p.get("keep", "record")),
            p.get("model"),
            measure,
            record=rec["id"],
        )


def _finish(session: Session, result: ReportResult, save: bool) -> ReportResult:
    if save and not session.readonly:
        stored = {k: v for k, v in result.to_dict().items() if k != "record"}
        result.record = session.add_record(result.kind, result.node_id, result.record_params(), stored)
    return result


def report(
    session: Session,
    backend: Backend,
    node_id: int,
    params: GenerationParams,
    *,
    temperatures: list[float] | None = None,
    keep: str = "record",
    threshold: float = THRESHOLD,
    ending_words: int = ENDING_WORDS,
    attractors: list[Attractor] | None = None,
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: Cancel | None = None,
    **measure: Any,
) -> ReportResult:
    """Sample `params.n` continuations of `node_id` at each temperature (the
    current one when `temperatures` is None), group them, and store the report.

    keep="nodes" commits the samples as branches of the tree; keep="record"
    keeps them only in the report. `progress` counts finished samples; a
    `cancel` stops sampling and reports on what finished. `attractors` are
    counted with their rates; `measure` sets the meaning clusters
    (cluster_similarity, cluster_words) and the bootstrap (resamples)."""
    check_grouping(threshold, ending_words)  # before sampling, not after it
    how = {**measure, "attractors": list(attractors or [])}
    temps = list(temperatures) if temperatures else None
    count = Counter(progress, params.n * len(temps or [params.temperature]), "samples")

    def listener(event: object) -> None:
        if isinstance(event, BranchDone):
            count.step()

    samples, notices = sample_continuations(
        session, backend, node_id, params, temperatures=temps, keep=keep, cancel=cancel, listener=listener
    )
    if not samples:
        raise ReplayError(f"node {node_id}: no sample finished" + (" (cancelled)" if cancelled(cancel) else ""))
    result = ReportResult(
        node_id,
        samples,
        build_report(samples, threshold, ending_words, **how),
        params,
        temps,
        keep,
        backend.identity(),
        how,
        notices,
        cancelled=cancelled(cancel),
    )
    return _finish(session, result, save)


def report_existing(
    session: Session,
    node_id: int,
    *,
    threshold: float = THRESHOLD,
    ending_words: int = ENDING_WORDS,
    attractors: list[Attractor] | None = None,
    save: bool = True,
    **measure: Any,
) -> ReportResult:
    """The report on the node's existing complete model-written children (nothing is generated)."""
    samples = samples_from_children(session, node_id)
    if not samples:
        raise ReplayError(f"node {node_id} has no complete model-written children to report on")
    how = {**measure, "attractors": list(attractors or [])}
    return _finish(
        session,
        ReportResult(
            node_id, samples, build_report(samples, threshold, ending_words, **how), None, None, "nodes", None, how
        ),
        save,
    )
