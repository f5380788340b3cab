"""Target 9: the report's grouping and measures (build_report: literal groups,
meaning clusters, diversity with bootstrap intervals, overall and per
temperature) on 250, 1,000 and 10,000 samples of the kind bench/serve.py draws
(32 tokens from the fake server's small word stock, 10 temperatures).

The baseline is the straightforward computation the report used before, kept
here: every ending compared with every literal group in Python, the n x n
similarity matrix of TF-IDF vectors, average linkage by the most similar pair
of the whole matrix at each step, and the Vendi score's eigenvalues of the
resampled n x n matrix once per resample. It runs only up to the sizes where it
ends in reasonable time (it is cubic: 72 s at 1,000 samples on the reference
machine); where both run, their clusters must be the same and their measures
agree to 1e-9, or the figure says so.

`python -m bench.analysis [--quick] [--sizes 250 1000 10000]` prints the
figures without touching bench/results.json."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

from loom.analysis import report as report_module
from loom.analysis.clusters import agglomerate, ending_text, similarity_matrix, tfidf
from loom.analysis.report import Sample, build_report

from .report import Figure, show

SERVER = Path(__file__).resolve().parents[1] / "tests" / "fake_openai_server.py"
TEMPERATURES = [round(0.5 + 0.1 * i, 1) for i in range(10)]
TOKENS = 32
BASELINE_UP_TO = 1_000  # the straightforward code beyond this takes many minutes (10,000: hours)


def samples(n: int) -> list[Sample]:
    """As bench/serve.py's analysis_seconds(): random tokens of the fake server's word stock."""
    sys.path.insert(0, str(SERVER.parent))
    from fake_openai_server import WORDS

    rng = random.Random(0)
    return [
        Sample("".join(rng.choice(WORDS) for _ in range(TOKENS)), [-0.5] * TOKENS, TEMPERATURES[i % 10], None, None)
        for i in range(n)
    ]


# -- the baseline: the report's code before it scaled -------------------------------------


def old_join_near(endings: list[str], threshold: float) -> list[tuple[str, list[str]]]:
    clusters: list[tuple[str, list[str]]] = []
    for ending in endings:
        for rep, members in clusters:
            if threshold > 0 and Levenshtein.normalized_distance(ending, rep) <= threshold:
                members.append(ending)
                break
        else:
            clusters.append((ending, [ending]))
    return clusters


class _Matrix(np.ndarray):
    """The n x n similarity matrix where the report now keeps the endings'
    vectors: measure_diversity takes its old path on it (the Vendi score's
    eigenvalues of the resampled n x n matrix), and a temperature's samples are
    cut from it with np.ix_, as before."""

    def subset(self, idx: list[int]) -> np.ndarray:
        return np.asarray(self)[np.ix_(idx, idx)]


class OldClustering:
    def __init__(self, labels: list[int], sim: np.ndarray) -> None:
        self.labels = labels
        self.vectors = sim.view(_Matrix)

    @property
    def count(self) -> int:
        return max(self.labels) + 1 if self.labels else 0

    def members(self, c: int) -> list[int]:
        return [i for i, lab in enumerate(self.labels) if lab == c]


def old_cluster_texts(texts: list[str], threshold: float, ending_words: int) -> OldClustering:
    # the library keeps the straightforward path (the attractor measure uses it): the baseline runs it
    sim = similarity_matrix(tfidf([ending_text(t, ending_words) for t in texts]))
    return OldClustering(agglomerate(sim, threshold), sim)


@contextmanager
def baseline() -> Iterator[None]:
    """build_report with the old literal grouping, clustering and Vendi path swapped in."""
    saved = report_module._join_near, report_module.cluster_texts
    report_module._join_near = old_join_near  # type: ignore[assignment]
    report_module.cluster_texts = old_cluster_texts  # type: ignore[assignment]
    try:
        yield
    finally:
        report_module._join_near, report_module.cluster_texts = saved


def timed(n: int, old: bool) -> tuple[float, dict[str, Any]]:
    field = samples(n)
    if old:
        with baseline():
            start = time.perf_counter()
            out = build_report(field)
    else:
        start = time.perf_counter()
        out = build_report(field)
    return time.perf_counter() - start, out


def differences(new: dict[str, Any], old: dict[str, Any], tol: float = 1e-9) -> list[str]:
    """Where two reports differ: any label or count, or a number by more than tol."""
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                out.append(f"{where}: keys")
            for k in a.keys() & b.keys():
                walk(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append(f"{where}: length {len(a)} != {len(b)}")
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) and isinstance(b, float):
            if not abs(a - b) <= tol:
                out.append(f"{where}: {a!r} != {b!r}")
        elif a != b:
            out.append(f"{where}: {a!r} != {b!r}")

    walk(new, old, "report")
    return out


def run(quick: bool = False, models: list[str] | None = None, sizes: list[int] | None = None) -> list[Figure]:
    sizes = sizes or ([250, 1_000] if quick else [250, 1_000, 10_000])
    up_to = 250 if quick else BASELINE_UP_TO
    figs = []
    for n in sizes:
        seconds, new = timed(n, old=False)
        note = f"{len(new['clusters'])} meaning clusters, {len(new['groups'])} literal groups"
        if n <= up_to:
            base, old = timed(n, old=True)
            diff = differences(new, old)
            note += "; the same report as the baseline's" if not diff else f"; DIFFERS: {'; '.join(diff[:5])}"
            fig = Figure(
                "9 analysis",
                f"build_report on {n:,} samples (10 temperatures)",
                seconds,
                "s",
                "the straightforward code",
                base,
                "same numbers",
                not diff,
                note,
            )
        else:
            fig = Figure(
                "9 analysis",
                f"build_report on {n:,} samples (10 temperatures)",
                seconds,
                "s",
                goal="< 60 s",
                met=seconds < 60,
                note=note + f"; the baseline is not run beyond {up_to:,} samples (cubic: hours here)",
            )
        show(fig)
        figs.append(fig)
    return figs


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+")
    args = ap.parse_args()
    run(quick=args.quick, sizes=args.sizes)


if __name__ == "__main__":
    main()
