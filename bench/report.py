"""Figures, their baselines and targets, printed as they are measured."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Figure:
    target: str  # which of the targets
    what: str
    value: float
    unit: str
    baseline: str = ""
    base_value: float | None = None
    goal: str = ""  # e.g. ">= 4.0x", "<= 64 B", "<= 1.5x"
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.base_value is None or not self.value:
            return None
        return self.base_value / self.value


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
