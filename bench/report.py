"""Figures, their baselines and targets, printed as they are measured and kept
in bench/results.json (see bench/results.py), from which the performance page's
table is generated (bench/table.py).

A benchmark module's `run()` returns its Figures; `record(...)` is the short way
to make one, print it and hand it back."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Figure:
    target: str  # which of the targets, e.g. "7 keys (wide)"
    what: str
    value: float
    unit: str
    baseline: str = ""
    base_value: float | None = None
    goal: str = ""  # e.g. ">= 4.0x", "<= 64 B", "< 50 ms"
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """The baseline's value over this one: how many times faster (or smaller) than the baseline."""
        if self.base_value is None or not self.value:
            return None
        return self.base_value / self.value

    def to_dict(self, **context: Any) -> dict[str, Any]:
        """The figure as results.json keeps it; `context` adds command, date, machine."""
        ratio = self.ratio
        return {**asdict(self), "ratio": None if ratio is None else round(ratio, 4), **context}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Figure:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def record(
    target: str,
    what: str,
    value: float,
    unit: str,
    baseline: str = "",
    base_value: float | None = None,
    goal: str = "",
    met: bool | None = None,
    note: str = "",
) -> Figure:
    """Make a Figure, print it, and return it (for `run()` to return with the others)."""
    fig = Figure(target, what, value, unit, baseline, base_value, goal, met, note)
    show(fig)
    return fig


def show(fig: Figure) -> None:
    line = f"  {fig.what}: {fmt(fig.value, fig.unit)}"
    if fig.base_value is not None:
        line += f"  | {fig.baseline}: {fmt(fig.base_value, fig.unit)}"
        if fig.ratio is not None:
            line += f"  | ratio {fig.ratio:.2f}x"
    if fig.goal:
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[fig.met]
        line += f"  | target {fig.goal}: {verdict}"
    print(line, flush=True)
    if fig.note:
        print(f"      {fig.note}", flush=True)


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.1f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit == "s/tok":  # time per token, said as the rate a reader compares
        return f"{1 / value:,.0f} tok/s" if value else "–"
    if unit == "tok/s":
        return f"{value:.1f} tok/s"
    if unit == "B/tok":
        return f"{value:.1f} B/token"
    return f"{value:g} {unit}".strip()


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
