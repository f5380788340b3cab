"""Scored candidates: the probability a model gives each of a set of answers
after a node's context (the favourite-number experiment): `loom score`, the
app's p, `loom.score()`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.candidates import CandidateError, CandidateScores, auto_separator, clean, preset
from ..backends.base import Backend, Prompt
from ..store import Session
from ..tree import Context
from .base import Result, store
from .context import path_context

#: what ends an answer, for P(text as a complete answer): these, or end-of-text
TERMINATORS = (".", ",", "!", "?", ";", ":", "\n")


def score_candidates(
    backend: Backend,
    text: Prompt,
    candidates: list[str],
    separator: str | None = None,
    end: str = "",
    answer: str = "text",
    terminators: tuple[str, ...] = TERMINATORS,
) -> CandidateScores:
    """Score each candidate as `separator + candidate + end` after `text`;
    `separator` None picks one with auto_separator. A candidate that is the
    start of another (" 5" and " 57") also counts the longer one's mass unless
    an `end` (".", a newline) closes every candidate."""
    cands = clean(candidates)
    sep = auto_separator(Context.of(text).text) if separator is None else separator
    texts = [sep + c + end for c in cands]
    if answer not in ("text", "complete"):
        raise CandidateError(f"answer must be 'text' or 'complete' (got {answer!r})")
    ends: list[float] | None = None
    if answer == "complete":
        both = getattr(backend, "score_answers", None)
        if both is None:
            raise CandidateError(
                f"P(candidate as a complete answer) needs the model's whole next-token distribution after each candidate; "
                f"{backend.name!r} gives only its top tokens, so loom cannot add up the mass of every terminator: "
                "score P(text) instead (--answer text), or use a local model"
            )
        pairs = both(text, texts, terminators)
        logprobs, ends = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        logprobs = backend.score(text, texts)
    if len(logprobs) != len(cands) or not all(math.isfinite(lp) or lp == -math.inf for lp in logprobs):
        raise CandidateError(f"the model {backend.name!r} returned {len(logprobs)} scores for {len(cands)} candidates")
    if all(lp == -math.inf for lp in logprobs):
        raise CandidateError("every candidate has probability 0 under the model")
    text_lps = [float(lp) for lp in logprobs]
    if ends is None:
        return CandidateScores(cands, text_lps, sep, backend.name, end)
    complete = [lp + t for lp, t in zip(text_lps, ends)]
    if all(lp == -math.inf for lp in complete):
        raise CandidateError("no candidate is ever followed by a terminator under the model")
    return CandidateScores(cands, complete, sep, backend.name, end, "complete", text_lps)


@dataclass
class ScoreResult(Result):
    kind = "candidates"

    node_id: int
    scores: CandidateScores
    model: dict[str, Any]  # the backend's identity
    notices: list[str] = field(default_factory=list)
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            **self.scores.to_dict(),
            "model_id": self.model,
            "notices": list(self.notices),
            "record": self.record,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per candidate in the order given: the model, the candidate's normalised
        probability, log-probability (as scored), P(text) alone, and its rank."""
        s = self.scores
        rank = {c: i for i, (c, _, _) in enumerate(s.ranked(), 1)}
        return [
            {
                "model": s.model,
                "node": self.node_id,
                "index": i,
                "candidate": c,
                "prob": p,
                "logprob": lp,
                "text_logprob": tl,
                "rank": rank[c],
                "answer": s.answer,
            }
            for i, (c, p, lp, tl) in enumerate(zip(s.candidates, s.probs, s.logprobs, s.text_logprobs or s.logprobs))
        ]

    def plot(self, path: str | Path | None = None) -> Any:
        """The matplotlib Figure: each candidate's probability in the candidates' own
        order (0..100 for the numbers); also written to `path` (PNG or SVG) when given."""
        return plot_scores([self], path)


@dataclass
class ScoreRuns(Result):
    """The same candidates scored on several models: one table (their rows one
    after the other, told apart by `model`) and one figure. Not stored itself:
    each run is its own record."""

    results: list[ScoreResult]
    record: int | None = None

    def rows(self) -> list[dict[str, Any]]:
        return [row for r in self.results for row in r.rows()]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.results]}

    def plot(self, path: str | Path | None = None) -> Any:
        return plot_scores(self.results, path)


def plot_scores(results: Sequence[ScoreResult], path: str | Path | None = None) -> Any:
    """The score strips of several runs (e.g. the same candidates on two models)
    one above the other, aligned candidate by candidate; returns the matplotlib
    Figure, also written to `path` (PNG or SVG by the suffix) when given."""
    from ..render.figures import scores_figure

    if not results:
        raise CandidateError("no score results to draw")
    nodes = sorted({r.node_id for r in results})
    title = f"scored candidates after node{'s' if len(nodes) > 1 else ''} {', '.join(map(str, nodes))}"
    return scores_figure([r.to_dict() for r in results], path, title)


def gather(candidates: Sequence[str] = (), presets: Sequence[str] = (), files: Sequence[str] = ()) -> list[str]:
    """The candidates of a run: those given, then the presets' lists, then each file's lines."""
    from ..analysis.candidates import read_file

    out = list(candidates)
    out += [c for name in presets for c in preset(name)]
    out += [c for f in files for c in read_file(f)]
    if not out:
        raise CandidateError("no candidates: give some, a file with one per line, or the preset numbers (0-100)")
    return out


def score(
    session: Session,
    backend: Backend,
    node_id: int,
    candidates: list[str],
    *,
    separator: str | None = None,
    end: str = "",
    answer: str | None = None,
    presets: Sequence[str] = (),
    save: bool = True,
) -> ScoreResult:
    """Score `candidates` after `node_id`'s context and store the result as a
    "candidates" record. `answer` None: P(candidate as a complete answer) when
    the candidates include the numbers preset and the model gives its whole
    distribution, else P(candidate's text), with a notice saying why."""
    notices: list[str] = []
    if answer is None:
        answer = "text"
        if "numbers" in presets:
            if getattr(backend, "score_answers", None) is not None:
                answer = "complete"
            else:
                notices.append(
                    f"{backend.name!r} gives only its top tokens, so each number is scored as P(text), "
                    "which for ' 1' also holds ' 10'..' 19'; a local model gives P(number as a complete answer)"
                )
    scores = score_candidates(backend, path_context(session, node_id), candidates, separator, end, answer=answer)
    result = ScoreResult(node_id, scores, backend.identity(), notices)
    if save:
        store(
            session,
            result,
            node_id,
            {
                "model": result.model,
                "separator": scores.separator,
                "end": scores.end,
                "answer": scores.answer,
                "count": len(scores.candidates),
            },
        )
    return result
