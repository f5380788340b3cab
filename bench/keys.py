"""Target 7: every move key end-to-end on huge trees, through Textual's Pilot
(headless, 160x50): a key press and the wait until the screen has settled
(`pilot.pause()`), median and 95th percentile per key, beside the same key on
a one-node session (what the app and Pilot cost by themselves).

Two sessions of 100,000 nodes each, grown with SQL copies of real 64-token
model nodes (top-10 alternatives):
- wide: a 20-node path (1,280 tokens) whose last node has 1,000 children;
- deep: a path 1,000 nodes deep (64,000 tokens) whose last node has 1,000 children.
The other nodes are leaves spread over the path's nodes (wide levels all the way).
Keys, from the node with 1,000 children: j (first child, landing among 1,000
siblings), l l (next sibling), k (parent, landing on the node with 1,000
children), repeated."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from loom.store import Session

from .report import Figure, show
from .storage import add, model_samples

WIDE = 1_000  # children of the landing node
COLS = "text, author, derived_from, model, params, sampler, created, complete, n_tokens, mean_prob, tokens, meta"


def build(path: Path, total: int, spine: int, wide: int) -> int:
    """A session of `total` nodes: a path `spine` nodes deep, its last node with
    `wide` children, the rest leaves spread over the path. Returns the last path node."""
    samples = model_samples(16)
    s = Session(path)
    ids = [add(s, None, samples[0])]
    for i in range(1, spine):
        ids.append(add(s, ids[-1], samples[i % len(samples)]))
    leaf = add(s, ids[-1], samples[1])
    s.current = ids[-1]
    s.close()
    conn = sqlite3.connect(path)
    rows = [(ids[-1], leaf)] * max(0, wide - 1)
    rest = total - len(ids) - wide
    rows += [(ids[i % len(ids)], leaf) for i in range(max(0, rest))]
    with conn:
        conn.executemany(f"INSERT INTO nodes (parent_id, {COLS}) SELECT ?, {COLS} FROM nodes WHERE id = ?", rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return ids[-1]


KEYS = {"j": ("child", "first child"), "l": ("next_sibling", "next sibling"), "k": ("parent", "parent")}


async def drive(path: Path, backend, rounds: int) -> tuple[float, dict[str, list[float]], int]:
    from loom.ui.app import LoomApp
    from loom.ui.pathview import PathView

    start = time.perf_counter()
    session = Session(path)
    app = LoomApp(session, backend=backend)
    times: dict[str, list[float]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - start
        tokens = len(app.query_one(PathView).tokens)
        for _ in range(rounds):
            for key in ("j", "l", "l", "k"):
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                times.setdefault(key, []).append(time.perf_counter() - t)
        # the same moves called directly: loom's own work, before the screen redraws
        for _ in range(rounds):
            for key in ("j", "l", "l", "k"):
                t = time.perf_counter()
                getattr(app, f"action_{KEYS[key][0]}")()
                times.setdefault(f"direct {key}", []).append(time.perf_counter() - t)
                await pilot.pause()
    session.close()
    return opened, times, tokens


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    total = 20_000 if quick else 100_000
    rounds = 3 if quick else 8
    backend = m.open_local("demo")  # given to the app so that no model loads while timing
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        tiny = Path(tmp) / "tiny.loom"
        build(tiny, 2, 1, 1)
        asyncio.run(drive(tiny, backend, 1))  # warm-up: imports and first-run costs
        _, base, _ = asyncio.run(drive(tiny, backend, rounds))
        for name, spine in (("wide", 20), ("deep", 1_000)):
            big = Path(tmp) / f"{name}.loom"
            t = time.perf_counter()
            build(big, total, spine, WIDE)
            print(f" {name}: built a {total:,}-node session in {time.perf_counter() - t:.1f} s", flush=True)
            opened, times, tokens = asyncio.run(drive(big, backend, rounds))
            print(f"  {name}: opened in {opened * 1e3:.0f} ms, path of {spine:,} nodes, {tokens:,} tokens", flush=True)
            for key, (_, what) in KEYS.items():
                for direct in (False, True):
                    k = f"direct {key}" if direct else key
                    med, p95 = stats(times[k])
                    bmed, bp95 = stats(base[k]) if base.get(k) else (None, None)
                    fig = Figure(
                        f"7 keys ({name})",
                        f"{name}: {what}{', action only' if direct else ''} (median of {len(times[k])})",
                        med,
                        "s",
                        "one-node session",
                        bmed,
                        "" if direct else "< 50 ms",
                        None if direct else med < 0.05,
                        f"p95 {p95 * 1e3:.1f} ms (one-node: {bp95 * 1e3:.1f} ms); "
                        + (
                            "the action method called directly"
                            if direct
                            else "key press and screen settled through Pilot"
                        ),
                    )
                    show(fig)
                    figs.append(fig)
    return figs
