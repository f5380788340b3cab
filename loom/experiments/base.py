"""What every experiment shares: progress reports, the cancel token, and the
typed result it stores as a record and hands to the CLI, the app and Python.

A result is plain data. `to_dict()` is what the session's record and `--json`
hold (numbers as numbers); `rows()` is the long-form table (one row per sample,
per perturbation, per candidate...) that `to_csv()` and `to_pandas()` write,
so the CSV the CLI writes and the DataFrame a notebook gets are the same table."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..textsafe import csv_cell

#: the cancel token every experiment takes: set it and the run stops at its next
#: step, keeping (and storing) what it finished
Cancel = threading.Event


@dataclass(frozen=True)
class Progress:
    """`done` of `total` `unit` finished (total None: not known in advance)."""

    done: int
    total: int | None
    unit: str
    started: float = field(default_factory=time.monotonic, compare=False)

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None

    def seconds_left(self, now: float | None = None) -> float | None:
        """Time left at the rate so far (None until one step is done)."""
        if not self.total or self.done <= 0:
            return None
        spent = (time.monotonic() if now is None else now) - self.started
        return spent / self.done * (self.total - self.done)

    def describe(self) -> str:
        """'12/40 samples, 8 s left' — the line the app's status and the CLI show."""
        text = f"{self.done}/{self.total} {self.unit}" if self.total else f"{self.done} {self.unit}"
        left = self.seconds_left()
        if left is not None and self.done < (self.total or 0):
            text += f", {_duration(left)} left"
        return text


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s} s" if s < 90 else f"{s // 60} min {s % 60:02d} s"


ProgressFn = Callable[[Progress], None]


class Counter:
    """Counts steps of one run and reports each to `progress` (which may be None)."""

    def __init__(self, progress: ProgressFn | None, total: int | None, unit: str) -> None:
        self.progress, self.total, self.unit = progress, total, unit
        self.done = 0
        self.started = time.monotonic()

    def step(self, by: int = 1) -> None:
        self.done += by
        if self.progress is not None:
            self.progress(Progress(self.done, self.total, self.unit, self.started))


def cancelled(cancel: Cancel | None) -> bool:
    return cancel is not None and cancel.is_set()


class Result:
    """Base of every experiment's result (each is a dataclass deriving from it)."""

    #: the record kind it is stored as
    kind: ClassVar[str] = ""
    record: int | None

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def rows(self) -> list[dict[str, Any]]:
        """The result as a long-form table: one dict per row, the same keys in each."""
        raise NotImplementedError

    def to_csv(self, path: str | Path | None = None) -> str:
        """The rows as CSV (RFC 4180, a header row); written to `path` when given.
        A text cell a spreadsheet would run as a formula is quoted inert."""
        rows = self.rows()
        buf = io.StringIO(newline="")
        keys = list(rows[0]) if rows else []
        w = csv.writer(buf)
        w.writerow(keys)
        for r in rows:
            w.writerow(["" if r[k] is None else csv_cell(r[k]) if isinstance(r[k], str) else r[k] for k in keys])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8", newline="")
        return text

    def _repr_html_(self) -> str:
        """How a notebook shows the result: its summary, then its rows."""
        from ..render.tables import table

        return table(
            self.rows(), caption=f"{type(self).__name__}" + ("" if self.record is None else f" · record {self.record}")
        )

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (numeric columns stay numeric)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_pandas() needs pandas: pip install 'loom-multiverse[pandas]'") from exc
        rows = self.rows()
        return pd.DataFrame.from_records(rows, columns=list(rows[0]) if rows else None)


def store(
    session: Any, result: Result, node_id: int | None, params: dict[str, Any], other_id: int | None = None
) -> int | None:
    """Keep `result` as a record of its kind beside `node_id`, with the settings
    and model identity in `params`; a read-only session keeps nothing (None)."""
    if session.readonly:
        return None
    stored = {k: v for k, v in result.to_dict().items() if k != "record"}
    result.record = session.add_record(result.kind, node_id, params, stored, other_id)
    return result.record
