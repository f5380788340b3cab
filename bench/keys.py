"""Target 7: every move key on a huge tree, from the key event to the screen's
next refresh, median and 95th percentile per key, beside the same key on a
small session: a root and 3 children (what the app costs by itself; a
one-node session has nowhere to move).

How it is timed: the app runs headless through Textual's Pilot (160x50), but
Pilot's idle waits are not what is timed. A subclass of the app stamps each
key: the start is the Key event's own time (`event.time`, taken when the event
is made, as the terminal driver does when it reads the key), the end is a
callback the key's action schedules with `call_after_refresh`, which Textual
runs once the screen has been refreshed (layout and the changed lines rendered
by the compositor; headless, the bytes are not written to a terminal).

The session: 100,000 nodes grown with SQL copies of real 64-token model nodes
(top-10 alternatives): a path 1,563 nodes deep (100,032 tokens) whose last node
has 1,000 children; the other nodes are leaves spread over the path's nodes.
Keys, from the node with 1,000 children: j (first child, landing among 1,000
siblings), l l h (siblings), . , (token cursor), k (parent, landing on the
node with 1,000 children), j again, r (root; the way back down is not timed)."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import tempfile
import time
from pathlib import Path

from loom.store import Session

from .report import Figure, show
from .storage import add, model_samples

WIDE = 1_000  # children of the landing node
SPINE = 1_563  # x 64 tokens = 100,032 tokens on the path
COLS = "text, author, derived_from, model, params, sampler, created, complete, n_tokens, mean_prob, tokens, meta"


def build(path: Path, total: int, spine: int, wide: int) -> int:
    """A session of `total` nodes: a path `spine` nodes deep, its last node with
    `wide` children, the rest leaves spread over the path. Returns the last path node."""
    samples = _samples()
    s = Session(path)
    with s.bulk():
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


@functools.cache
def _samples():
    return model_samples(16)  # made by the demo model: once per run, not per session built


#: key -> (action, what the figure calls it)
KEYS = {
    "j": ("child", "first child (lands among 1,000 siblings)"),
    "l": ("next_sibling", "next sibling"),
    "h": ("prev_sibling", "previous sibling"),
    "full_stop": ("next_token", "next token"),
    "comma": ("prev_token", "previous token"),
    "k": ("parent", "parent (lands on the node with 1,000 children)"),
    "r": ("root", "root"),
}
ROUND = ["j", "l", "l", "h", "full_stop", "comma", "k", "j", "r"]  # r from a child: on the small session too


def timed_app():
    """LoomApp that times each key from its event to the refresh after its action."""
    from textual import events

    from loom.ui.app import LoomApp

    class TimedApp(LoomApp):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.key_times: list[tuple[str, float, float]] = []  # key, wall seconds, CPU seconds
            self._key: tuple[events.Key, float] | None = None

        async def on_event(self, event) -> None:
            if isinstance(event, events.Key):
                self._key = (event, time.process_time())
            await super().on_event(event)

        async def run_action(self, action, default_namespace=None) -> bool:
            done = await super().run_action(action, default_namespace)
            pressed, self._key = self._key, None
            if pressed is not None:
                key, cpu = pressed

                def stamp() -> None:
                    self.key_times.append((key.key, time.monotonic() - key.time, time.process_time() - cpu))

                self.call_after_refresh(stamp)
            return done

    return TimedApp


async def drive(path: Path, backend, rounds: int) -> tuple[float, dict[str, list[float]], int]:
    """Open the app on `path` and press ROUND `rounds` times: (seconds to open, key -> wall
    seconds, and "cpu KEY" -> the process's CPU seconds over the same span, path tokens)."""
    from loom.ui.pathview import PathView

    start = time.perf_counter()
    session = Session(path)
    app = timed_app()(session, backend=backend)
    landing = session.current
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - start
        tokens = len(app.query_one(PathView).tokens)
        for _ in range(rounds):
            for key in ROUND:
                seen = len(app.key_times)
                await pilot.press(key)
                while len(app.key_times) == seen:  # the refresh after the key
                    await pilot.pause(0.005)
            app.show_node(landing)  # back down after r, untimed
            await pilot.pause()
    session.close()
    times: dict[str, list[float]] = {}
    for key, seconds, cpu in app.key_times:
        times.setdefault(key, []).append(seconds)
        times.setdefault(f"cpu {key}", []).append(cpu)
    return opened, times, tokens


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    from . import models as m

    total = 20_000 if quick else 100_000
    spine = 300 if quick else SPINE
    rounds = 3 if quick else 8
    backend = m.open_local("demo")  # given to the app so that no model loads while timing
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        tiny = Path(tmp) / "tiny.loom"
        build(tiny, 4, 1, 3)
        asyncio.run(drive(tiny, backend, 1))  # warm-up: imports and first-run costs
        _, base, _ = asyncio.run(drive(tiny, backend, rounds))
        big = Path(tmp) / "big.loom"
        t = time.perf_counter()
        build(big, total, spine, WIDE)
        print(f" built a {total:,}-node session in {time.perf_counter() - t:.1f} s", flush=True)
        opened, times, tokens = asyncio.run(drive(big, backend, rounds))
        print(f"  opened in {opened * 1e3:.0f} ms, a path of {spine:,} nodes, {tokens:,} tokens", flush=True)
        for key, (_, what) in KEYS.items():
            med, p95 = stats(times[key])
            cpu, _ = stats(times[f"cpu {key}"])
            bmed, bp95 = stats(base[key]) if base.get(key) else (None, None)
            fig = Figure(
                "7 keys",
                f"{what}: key to refresh, {total // 1000}k nodes, {tokens:,}-token path (median of {len(times[key])})",
                med,
                "s",
                "small session (a root, 3 children)",
                bmed,
                "< 50 ms",
                med < 0.05,
                f"p95 {p95 * 1e3:.1f} ms"
                + (f" (small session: {bp95 * 1e3:.1f} ms)" if bp95 is not None else "")
                + f"; the process's CPU time over the same span: {cpu * 1e3:.1f} ms (the wall time on a shared"
                " machine includes waiting for a core)",
            )
            show(fig)
            figs.append(fig)
    return figs
