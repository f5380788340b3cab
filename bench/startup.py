"""Target 5: the real start-up. `loom --help` against the Python interpreter
alone and against importing the heavy libraries loom leaves out of it; then
`loom SESSION --model demo` in a fresh process in a pseudo-terminal (160x50),
as a person starts it, on a 100,000-node session whose current path is 313
nodes (20,032 tokens; the session of target 4), the model loading as it
starts:

- first screen: from the start of the process to the first screen that shows
  the current node in its title;
- usable: `k` (parent) is typed as the process starts, before the first
  screen; usable is when the screen shows the parent: the path laid out, the
  app answering keys, and the key not lost;
- a key while the model loads: `j` (back to the child) sent once usable,
  timed until the screen shows it; the model is checked to be still loading;
- the model ready: until the status line says so.

The terminal answers Textual's question about synchronized output, so every
screen update comes as one framed write (what a modern terminal does)."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from .report import Figure, show

COLS, ROWS = 160, 50


def best_of(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


class Terminal:
    """A program in a pseudo-terminal: what it writes, with the time each piece arrived."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), **(env or {}))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.out = bytearray()
        self.arrived: list[tuple[int, float]] = []  # (end offset of a read, when)
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            with self.lock:
                self.out += data
                self.arrived.append((len(self.out), now))
            if b"\x1b[?2026$p" in data:  # "do you do synchronized output?": yes (mode 2026 reset)
                os.write(self.master, b"\x1b[?2026;2$y")

    def send(self, data: bytes) -> float:
        os.write(self.master, data)
        return time.monotonic()

    def offset(self) -> int:
        with self.lock:
            return len(self.out)

    def wait(self, pattern: bytes, start: int = 0, timeout: float = 120.0) -> float | None:
        """When `pattern` was first written at or after offset `start` (None: not within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                at = self.out.find(pattern, start)
                if at >= 0:
                    end = at + len(pattern)
                    return next(t for off, t in self.arrived if off >= end)
            if self.proc.poll() is not None:
                return None
            time.sleep(0.002)
        return None

    def seen(self, pattern: bytes, start: int = 0) -> bool:
        with self.lock:
            return self.out.find(pattern, start) >= 0

    def close(self) -> None:
        try:
            self.send(b"q")
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.reader.join(1)
        os.close(self.master)


def start_up(loom: list[str], session: Path, node: int, parent: int) -> dict[str, float | bool | None]:
    """One real start of `loom SESSION --model demo`, times in seconds from the process's start.
    `k` is typed at once (before the first screen); `j` once the app has answered it."""
    from loom.store import Session

    with Session(session) as s:  # the last start moved away from the node
        s.current = node
    term = Terminal([*loom, str(session), "--model", "demo"])
    try:
        term.send(b"k")
        first = term.wait(f"node {node} (".encode())
        usable = term.wait(f"node {parent} (".encode(), timeout=60)
        if first is None:
            return {}
        out: dict[str, float | bool | None] = {"first": first - term.start, "kept": usable is not None}
        if usable is None:
            return out
        out["usable"] = usable - term.start
        loading = not term.seen(b"ready")
        at = term.offset()
        sent = term.send(b"j")
        answered = term.wait(f"node {node} (".encode(), at)
        out["key_answer"] = None if answered is None else answered - sent
        out["key_while_loading"] = loading and not term.seen(b"ready", at)
        ready = term.wait(b"model demo ready")
        out["ready"] = None if ready is None else ready - term.start
        return out
    finally:
        term.close()


def loom_command() -> list[str]:
    exe = shutil.which("loom", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "loom"]


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from .keys import build
    from .ui import SPINE

    runs = 3 if quick else 5
    loom = loom_command()
    python = best_of([sys.executable, "-c", "pass"], runs)
    heavy = best_of([sys.executable, "-c", "import torch, transformers, textual"], max(2, runs // 2))
    helped = best_of([*loom, "--help"], runs)
    figs = [
        Figure(
            "5 start-up",
            f"`loom --help` (best of {runs})",
            helped,
            "s",
            "importing torch, transformers and textual",
            heavy,
            "< 0.3 s",
            helped < 0.3,
            f"the Python interpreter alone starts in {python * 1e3:.0f} ms",
        ),
    ]
    show(figs[0])
    total = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        path = Path(tmp) / "start.loom"
        node = build(path, total, SPINE, 1)
        parent = node - 1  # the path's nodes are made in order
        starts = [start_up(loom, path, node, parent) for _ in range(runs)]

    def median(key: str) -> float:
        xs = sorted(float(r[key]) for r in starts if r.get(key) is not None)  # type: ignore[arg-type]
        return xs[len(xs) // 2] if xs else float("nan")

    def runs_of(key: str, scale: float = 1.0, unit: str = " s") -> str:
        return ", ".join(
            f"{float(r[key]) * scale:.{0 if scale > 1 else 2}f}{unit}" for r in starts if r.get(key) is not None
        )

    first, usable, answer, ready = median("first"), median("usable"), median("key_answer"), median("ready")
    while_loading = sum(bool(r.get("key_while_loading")) for r in starts)
    kept = sum(bool(r.get("kept")) for r in starts)
    shape = f"{total:,} nodes, a {SPINE}-node path of 20,032 tokens"
    figs += [
        Figure(
            "5 start-up",
            f"`loom SESSION`, first screen: {shape} (median of {len(starts)})",
            first,
            "s",
            "the demo model ready",
            ready,
            "",
            None,
            f"from the process's start to the first screen showing the current node; all runs: {runs_of('first')}",
        ),
        Figure(
            "5 start-up",
            f"`loom SESSION` usable: a key typed at start answered, {shape} (median of {len(starts)})",
            usable,
            "s",
            "the demo model ready",
            ready,
            "< 0.5 s",
            usable < 0.5,
            "`k` typed as the process starts, until the screen shows the parent: the path laid out and the "
            f"app answering; in a pseudo-terminal ({COLS}x{ROWS}); all runs: {runs_of('usable')}",
        ),
        Figure(
            "5 start-up",
            f"a key pressed while the model loads, to the screen's answer (median of {len(starts)})",
            answer,
            "s",
            "",
            None,
            "< 100 ms",
            answer < 0.1 and while_loading == len(starts),
            f"`j` sent once the app was usable; the model was still loading in {while_loading} of "
            f"{len(starts)} runs; all runs: {runs_of('key_answer', 1e3, ' ms')}",
        ),
        Figure(
            "5 start-up",
            f"keys typed before the first screen are kept ({kept} of {len(starts)} starts)",
            kept,
            "starts",
            "",
            None,
            "every one",
            kept == len(starts),
            "`k` written to the terminal as the process starts; the app must land on the parent",
        ),
    ]
    for fig in figs[1:]:
        show(fig)
    return figs
