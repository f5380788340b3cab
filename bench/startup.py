"""Target 5: `loom --help` start-up time against the Python interpreter alone
and against importing the heavy libraries loom leaves out of it (torch,
transformers, textual); and the app's first screen against the model load, on
a real session with the demo model loading in the background."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Figure, show


def best_of(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


async def first_screen(path: Path) -> tuple[float, float, bool]:
    """Seconds to the first screen (with the loading indicator showing) and to the model being ready."""
    from loom.store import Session
    from loom.ui.app import LoomApp

    start = time.perf_counter()
    session = Session(path)
    app = LoomApp(session, model="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = time.perf_counter() - start
        loading = not app.query_one("#loading").has_class("hidden") and app.backend is None
        while app.backend is None and time.perf_counter() - start < 120:
            await pilot.pause(0.02)
        ready = time.perf_counter() - start
    session.close()
    return shown, ready, loading


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    runs = 3 if quick else 7
    exe = shutil.which("loom", path=str(Path(sys.executable).parent)) or shutil.which("loom")
    loom_cmd = [exe, "--help"] if exe else [sys.executable, "-m", "loom", "--help"]
    python = best_of([sys.executable, "-c", "pass"], runs)
    heavy = best_of([sys.executable, "-c", "import torch, transformers, textual"], max(2, runs // 3))
    helped = best_of(loom_cmd, runs)
    figs = [
        Figure(
            "5 start-up",
            f"`{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(loom_cmd))}` (best of {runs})",
            helped,
            "s",
            "importing torch, transformers and textual",
            heavy,
            "< 0.3 s",
            helped < 0.3,
            f"the Python interpreter alone starts in {python * 1e3:.0f} ms",
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        from loom.store import Session

        path = Path(tmp) / "s.loom"
        with Session(path) as s:
            s.current = s.add_node(None, "Once upon a time", "prompt").id
        # in a fresh process: here torch and the model's files are already loaded
        out = subprocess.run(
            [sys.executable, "-m", "bench.startup", str(path)],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout.split()
        shown, ready, loading = float(out[-3]), float(out[-2]), out[-1] == "True"
    figs.append(
        Figure(
            "5 start-up",
            "app's first screen (model still loading)",
            shown,
            "s",
            "demo model ready",
            ready,
            "first screen before the model",
            shown < ready and loading,
            f"loading indicator shown while the model loads: {'yes' if loading else 'no'}",
        )
    )
    for fig in figs:
        show(fig)
    return figs


if __name__ == "__main__":
    shown, ready, loading = asyncio.run(first_screen(Path(sys.argv[1])))
    print(shown, ready, loading)
