"""Target 4: a generated session of 100,000 nodes opens in the app and shows
its current path, and moving between nodes updates the screen, timed through
Textual's Pilot (headless, 160x50). The current path is 313 model nodes of 64
tokens (about 20,000 tokens, one text); every node on it has a few hundred
sibling leaves, so the tree panel and the children list have wide levels.
The baseline is the same app on a one-node session: what the app costs by
itself."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from loom.store import Session

from .keys import build  # a path with leaves spread over it (wide=1: no extra children)
from .report import Figure, show

SPINE = 313  # x 64 tokens = 20,032 tokens on the current path


async def drive(path: Path, backend, moves: list[str]) -> tuple[float, dict[str, list[float]], int, int]:
    from loom.ui.app import LoomApp
    from loom.ui.pathview import PathView

    start = time.perf_counter()
    session = Session(path)
    app = LoomApp(session, backend=backend)
    times: dict[str, list[float]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - start
        pv = app.query_one(PathView)
        tokens, lines = len(pv.tokens), len(pv._lines)
        for key in moves:
            t = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            times.setdefault(key, []).append(time.perf_counter() - t)
        # the same moves called directly: loom's own work for a key, without Pilot's event round trips
        for key in moves:
            t = time.perf_counter()
            getattr(app, f"action_{ACTIONS[key]}")()
            direct = time.perf_counter() - t
            await pilot.pause()
            times.setdefault(f"direct {key}", []).append(direct)
    session.close()
    return opened, times, tokens, lines


ACTIONS = {"k": "parent", "j": "child", "l": "next_sibling", "h": "prev_sibling", "full_stop": "next_token"}
MOVES = {"k": "parent", "j": "first child", "l": "next sibling", "h": "previous sibling", "full_stop": "next token"}


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    total = 20_000 if quick else 100_000
    backend = m.open_local("demo")  # given to the app so that no model loads while timing
    moves = ["k", "j", "l", "l", "h", "full_stop", "full_stop"] * 2
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        big, tiny = Path(tmp) / "big.loom", Path(tmp) / "tiny.loom"
        t = time.perf_counter()
        build(big, total, SPINE, wide=1)
        print(f" built a {total:,}-node session in {time.perf_counter() - t:.1f} s", flush=True)
        build(tiny, 2, 1, wide=1)
        asyncio.run(drive(tiny, backend, ["l"]))  # warm-up: imports and first-run costs
        base_open, base_times, _, _ = asyncio.run(drive(tiny, backend, moves))
        opened, times, tokens, lines = asyncio.run(drive(big, backend, moves))
    figs = [
        Figure(
            "4 huge session",
            f"open a {total:,}-node session and show its {tokens:,}-token path ({lines:,} lines)",
            opened,
            "s",
            "the app on a one-node session",
            base_open,
            "< 1 s",
            opened < 1.0,
        )
    ]
    show(figs[0])
    for key, what in [*MOVES.items(), *((f"direct {k}", f"{w}, the action's own work") for k, w in MOVES.items())]:
        if key not in times:
            continue
        worst = max(times[key])
        median = sorted(times[key])[len(times[key]) // 2]
        base = sorted(base_times.get(key, [0]))[len(base_times.get(key, [0])) // 2]
        fig = Figure(
            "4 huge session",
            f"move: {what} (median of {len(times[key])})",
            median,
            "s",
            "same key on a one-node session",
            base or None,
            "< 50 ms",
            median < 0.05,
            f"slowest {worst * 1e3:.0f} ms; "
            + (
                "the action method called directly, before the screen redraws"
                if key.startswith("direct")
                else "key press and screen update through Pilot"
            ),
        )
        show(fig)
        figs.append(fig)
    return figs
