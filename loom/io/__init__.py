"""Bringing trees in and taking them out: the original loom's JSON
(socketteer), loom's own lossless JSON, and text/tables for papers and
notebooks. No textual here; the CLI and the UI both call these functions.

Long jobs take `progress(done, total)`, called now and then."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..tree import LoomError
from .sessionlike import SessionLike

if TYPE_CHECKING:
    from rich.progress import Progress as Bar

    from ..themes import LoomTheme

Progress = Callable[[int, int], None]


class TreeFormatError(LoomError, ValueError):
    """A file cannot be imported; the message names the file and the cause."""


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, or say clearly why it cannot be read. Any nesting depth:
    json.loads recurses, so a file nested deeper than it can go is read without recursion."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TreeFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise TreeFormatError(f"{p}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise TreeFormatError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TreeFormatError(f"{p}: cannot be read ({exc.strerror})") from None
    try:
        try:
            return json.loads(text)
        except RecursionError:
            from .jsonstream import loads_deep

            return loads_deep(text)
    except json.JSONDecodeError as exc:
        raise TreeFormatError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


class Problems:
    """What is wrong with a file, as it is checked: every problem counted, the first ten kept
    to show. Call it with a message; `problems.count` says how many."""

    SHOWN = 10

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def __call__(self, msg: str) -> None:
        self.count += 1
        if len(self.lines) < self.SHOWN:
            self.lines.append(msg)

    def error(self, nodes: int) -> TreeFormatError:
        """One error for everything wrong with the file: a line per problem shown, and what was kept."""
        kept = f"nothing was imported (0 of the file's {nodes} nodes kept)"
        if self.count == 1:
            return TreeFormatError(f"{self.lines[0]}; {kept}")
        lines = [f"{self.count} problems; {kept}:"] + [f"  {p}" for p in self.lines]
        if self.count > len(self.lines):
            lines.append(f"  and {self.count - len(self.lines)} more")
        return TreeFormatError("\n".join(lines))


def detect_format(data: Any) -> str:
    """'loom-json' for loom's own export, 'socketteer' for the original loom's tree (or a bare node or list)."""
    if isinstance(data, dict) and data.get("format") == "loom-session":
        return "loom-json"
    if isinstance(data, dict) and ("root" in data or "text" in data):
        return "socketteer"
    from .treefile import ListTree

    if isinstance(data, (list, ListTree)):
        return "socketteer"
    raise TreeFormatError(
        "not a tree loom knows: expected loom's JSON export, or the original loom's JSON "
        "(an object with 'root', a bare node with 'text', or a list of nodes)"
    )


def load(path: str | Path, fmt: str = "auto") -> tuple[Any, str]:
    """Read a file and decide its format, before any session is touched. The file is read a piece
    at a time, its nodes (and model responses) spooled to a temporary file (loom.io.treefile), so
    the memory this takes does not grow with the file."""
    if fmt not in ("auto", "loom-json", "socketteer"):
        raise TreeFormatError(f"unknown import format {fmt!r} (use auto, loom-json or socketteer)")
    data = _read_spooled(path)
    try:
        kind = detect_format(data) if fmt == "auto" else fmt
    except TreeFormatError as exc:
        raise TreeFormatError(f"{path}: {exc}") from None
    if not _fits(data, kind):  # spooled for the other format: read whole, as it is
        data = read_json(path)
    return data, kind


def _read_spooled(path: str | Path) -> Any:
    from .jsonreader import Broken
    from .socketteer import response_summary
    from .treefile import Unusual, read

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return read(fh, response_summary)
    except (OSError, Broken, Unusual):  # read_json says why (a broken file), or reads an unusual one whole
        return read_json(path)


def _fits(data: Any, kind: str) -> bool:
    """Whether the parts spooled are the ones the format reads as spools."""
    from .spool import Spool
    from .treefile import ListTree, Tree

    if kind == "loom-json":
        return not isinstance(data, ListTree) and not (
            isinstance(data, dict) and any(isinstance(v, Tree) for v in data.values())
        )
    return not (isinstance(data, dict) and isinstance(data.get("nodes"), Spool))


def import_loaded(
    session: SessionLike,
    data: Any,
    kind: str,
    *,
    under: int | None = None,
    progress: Progress | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Import data read by `load` into `session` (as new roots, or under node `under`); returns a summary."""
    if kind == "loom-json":
        from .loomjson import import_data
    else:
        from .socketteer import import_data
    try:
        summary = import_data(session, data, under=under, progress=progress, source=Path(source).name if source else "")
    except TreeFormatError as exc:
        raise TreeFormatError(f"{source}: {exc}" if source else str(exc)) from None
    summary["format"] = kind
    return summary


def import_file(
    session: SessionLike,
    path: str | Path,
    *,
    under: int | None = None,
    fmt: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import a file into `session` (as new roots, or under node `under`); returns a summary."""
    data, kind = load(path, fmt)
    return import_loaded(session, data, kind, under=under, progress=progress, source=str(path))


EXPORT_FORMATS = ("loom-json", "socketteer", "markdown", "text", "html", "ansi", "jsonl", "csv")
EXPORT_SUFFIX = {
    "loom-json": ".loom.json",
    "socketteer": ".json",
    "markdown": ".md",
    "text": ".txt",
    "html": ".html",
    "ansi": ".ansi",
    "jsonl": ".jsonl",
    "csv": ".csv",
}
#: the formats of one path (root to a node, default the current node); the others are of a subtree
PATH_FORMATS = ("markdown", "text", "html", "ansi")


def export_to(
    session: SessionLike,
    fmt: str,
    fh: IO[str],
    node_id: int | None = None,
    *,
    probs: bool = False,
    raw: bool = False,
    progress: Progress | None = None,
    theme: LoomTheme | str | None = None,
) -> int:
    """Write the export to the open text file `fh` as it is made (memory does not grow with the
    session); returns how many nodes or tokens it holds. For the path formats (PATH_FORMATS)
    `node_id` is the end of the path (default: the current node); for the others the top of the
    subtree (default: all). Markdown, text and CSV are made safe to read (loom.textsafe) unless
    `raw`; HTML and ANSI always are (tokens coloured by probability with `theme`: a LoomTheme, a
    theme's name, or None for loom's default; the CLI and the app pass the configured one). The JSON formats are exact, with lone
    surrogates, C1 controls and bidi controls as \\u escapes (loom.textsafe.inert_json), so the
    file is valid UTF-8 and inert in a terminal."""
    if fmt not in EXPORT_FORMATS:
        raise TreeFormatError(f"unknown export format {fmt!r} (use one of {', '.join(EXPORT_FORMATS)})")
    if session.count() == 0:
        raise TreeFormatError(f"{session.path}: has no nodes to export")
    if fmt in ("loom-json", "socketteer"):
        from .jsonstream import Sink

        if fmt == "loom-json":
            from .loomjson import write_export
        else:
            from .socketteer import write_export
        sink = Sink(fh)
        count = write_export(session, sink, node_id, progress=progress)
        sink.write("\n")
        sink.flush()
        return count
    if fmt in PATH_FORMATS:
        end = node_id if node_id is not None else session.current
        if end is None:  # (a session with nodes always has a current one)
            raise TreeFormatError(f"{session.path}: has no current node to end the path at")
        if fmt in ("html", "ansi"):
            return _coloured_path(session, fmt, fh, end, theme)
        from .text import path_markdown, path_text

        render = path_markdown if fmt == "markdown" else path_text
        fh.write(render(session, end, probs=probs, raw=raw))
        return len(session.ancestry(end))
    from .text import token_rows, write_jsonl

    if fmt == "jsonl":
        return write_jsonl(token_rows(session, node_id, progress=progress), fh)
    from .tables import stream_csv

    return stream_csv(session, node_id, fh, raw=raw, progress=progress)


def _coloured_path(session: SessionLike, fmt: str, fh: IO[str], end: int, theme: LoomTheme | str | None) -> int:
    """The path to `end` as a self-contained HTML page or as ANSI-coloured text (loom.render)."""
    from ..themes import LoomTheme, ThemeError, pick_theme
    from .text import heading

    try:
        if not isinstance(theme, LoomTheme):
            theme = pick_theme(theme)
        nodes = session.path_nodes(end)
        about = " · ".join(heading(session, nodes))
        if fmt == "html":
            from ..render.html import path_page

            fh.write(path_page(nodes, theme, title=f"{session.name}: node {end}", subtitle=about))
        else:
            from ..render.ansi import path_ansi

            fh.write(path_ansi(nodes, theme, heading=about))
    except ThemeError as exc:
        raise TreeFormatError(str(exc)) from None
    return len(nodes)


def export_text(
    session: SessionLike,
    fmt: str,
    node_id: int | None = None,
    *,
    probs: bool = False,
    raw: bool = False,
    progress: Progress | None = None,
    theme: LoomTheme | str | None = None,
) -> tuple[str, int]:
    """(the export as text, how many nodes or tokens it holds): `export_to` into a string."""
    import io

    buf = io.StringIO()
    count = export_to(session, fmt, buf, node_id, probs=probs, raw=raw, progress=progress, theme=theme)
    return buf.getvalue(), count


class terminal_progress:
    """A progress bar on standard error while a long import or export runs, only when
    standard error is a terminal (scripts and pipes get clean output). Use as
    `with terminal_progress("importing") as progress: job(progress=progress)`;
    `progress` is None when there is no terminal."""

    def __init__(self, label: str, enabled: bool = True):
        import sys

        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Bar | None = None

    def __enter__(self) -> Progress | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        bar = self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        bar.start()
        task = bar.add_task(self.label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
