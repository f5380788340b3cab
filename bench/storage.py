"""Target 3: appending model nodes (64 tokens from the demo model through the
local backend, with real token ids and top-10 alternatives) through Session.add_node, one commit each, against a JSON tree file that
is rewritten on every change (how JSON-file looms save). Per-node append time
is the mean over a batch of appends made when the session already holds 10k
and 100k nodes; the session is grown to 100k with plain SQL copies of real
rows (the appends measured are all real add_node calls). Bytes per token: the
whole .loom file (text, token blobs, vocabulary, indexes)
divided by the tokens in it."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from loom.store import Session
from loom.tree import Token

from .report import Figure, show

TOKENS, ALTS = 64, 10


def model_samples(count: int) -> list[list[Token]]:
    """Branches of 64 tokens from the demo model through loom's local backend, as a session stores them."""
    from loom.backends.local import LocalBackend
    from loom.tree import GenerationParams, TokenEvent

    backend = LocalBackend("demo", device="cpu")
    starts = [
        "Once upon a time",
        "The old lighthouse keeper",
        "In the morning the village",
        "She opened the letter",
        "The rain had not stopped",
        "Far away, beyond the hills",
        "He laughed and said",
        "The cat sat",
    ]
    out: list[list[Token]] = []
    seed = 0
    while len(out) < count:
        branches: dict[int, list[Token]] = {}
        params = GenerationParams(n=8, max_tokens=TOKENS, seed=seed, logprobs=ALTS)
        for ev in backend.generate(starts[seed % len(starts)], params):
            if isinstance(ev, TokenEvent):
                branches.setdefault(ev.branch, []).append(ev.token)
        out += [b for b in branches.values() if len(b) == TOKENS]
        seed += 1
    return out[:count]


def add(session: Session, parent: int | None, tokens: list[Token]) -> int:
    text = "".join(t.text for t in tokens)
    return session.add_node(
        parent, text, "model", model="demo", params={"n": 8, "max_tokens": 64, "seed": 1}, tokens=tokens
    ).id


def time_appends(path: Path, samples: list[list[Token]], count: int) -> float:
    """Mean seconds per add_node over `count` appends to a freshly opened session."""
    session = Session(path)
    parents = [session.count()]
    add(session, parents[0], samples[0])  # first use: loads the vocabulary
    start = time.perf_counter()
    for i in range(count):
        parents.append(add(session, random.Random(i).choice(parents), samples[i % len(samples)]))
    seconds = (time.perf_counter() - start) / count
    session.close()
    return seconds


def grow(path: Path, target: int) -> None:
    """Copy existing rows (real add_node output) until the file holds `target` nodes."""
    conn = sqlite3.connect(path)
    cols = "parent_id, text, author, derived_from, model, params, sampler, created, complete, n_tokens, mean_prob, tokens, meta"
    with conn:
        while True:
            have = conn.execute("SELECT count(*), max(id) FROM nodes").fetchone()
            if have[0] >= target:
                break
            take = min(have[0], target - have[0])
            conn.execute(f"INSERT INTO nodes ({cols}) SELECT {cols} FROM nodes ORDER BY id LIMIT ?", (take,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def json_rewrite(path: Path, nodes: int, tokens: list[list[Token]], appends: int) -> tuple[float, int]:
    """Seconds per append for a JSON tree of `nodes` nodes rewritten whole on each change, and its size.
    Nodes share their token lists in memory (so that the baseline fits), but every one is written out."""

    def node_json(i: int, toks: list[Token]) -> dict:
        return {
            "id": i,
            "parent": max(0, i - 1 - i % 7) if i else None,
            "author": "model",
            "model": "demo",
            "params": {"n": 8, "max_tokens": 64, "seed": 1},
            "text": "".join(t.text for t in toks),
            "tokens": [
                [t.text, t.logprob, t.token_id, [[a.text, a.logprob, a.token_id] for a in t.alternatives]] for t in toks
            ],
        }

    shapes = [node_json(0, t)["tokens"] for t in tokens]
    tree = {"nodes": [{**node_json(i, []), "tokens": shapes[i % len(shapes)]} for i in range(nodes)]}
    start = time.perf_counter()
    for i in range(appends):
        tree["nodes"].append({**node_json(nodes + i, []), "tokens": shapes[i % len(shapes)]})
        path.write_text(json.dumps(tree))
    return (time.perf_counter() - start) / appends, path.stat().st_size


def run(quick: bool = False, models: list[str] | None = None) -> list[Figure]:
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    batch = 200 if quick else 1_000
    rng = random.Random(0)
    samples = model_samples(48)
    figs = []
    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        path = Path(tmp) / "s.loom"
        session = Session(path)
        parents = [add(session, None, samples[0])]
        start = time.perf_counter()
        for i in range(small - 2):
            parents.append(add(session, rng.choice(parents), samples[i % len(samples)]))
        first = (time.perf_counter() - start) / (small - 2)
        session.close()
        session = Session(path)
        session.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n_nodes = session.count()
        size = path.stat().st_size
        blob = session.db.conn.execute("SELECT sum(length(tokens)) FROM nodes").fetchone()[0]
        session.close()
        print(f" {n_nodes} nodes through add_node: {first * 1e3:.2f} ms a node on average from empty", flush=True)
        big = Path(tmp) / "big.loom"
        shutil.copy(path, big)
        grow(big, large - batch)
        # alternate small and large rounds, best of each: load from other processes drifts
        rounds = [(time_appends(path, samples, batch // 4), time_appends(big, samples, batch // 4)) for _ in range(4)]
        at_small, at_large = min(r[0] for r in rounds), min(r[1] for r in rounds)

        json_appends = 2 if quick else 3
        json_path = Path(tmp) / "tree.json"
        json_per, json_size = json_rewrite(json_path, small, samples, json_appends)

    tokens = n_nodes * TOKENS
    fig = Figure(
        "3 storage",
        f"append a node at {large:,} nodes vs at {small:,}",
        at_large,
        "s",
        f"at {small:,} nodes",
        at_small,
        "<= 1.5x (flat)",
        at_large / at_small <= 1.5,
        f"4 rounds of {batch // 4} add_node calls each, one commit per node, best round; ratio shown is small/large, "
        f"growth {at_large / at_small:.2f}x",
    )
    show(fig)
    figs.append(fig)
    fig = Figure(
        "3 storage",
        f"append a node at {small:,} nodes",
        at_small,
        "s",
        "rewrite a JSON tree file",
        json_per,
        ">= 100x",
        json_per / at_small >= 100,
        f"JSON: {json_appends} rewrites of a {json_size / 2**20:.0f} MiB file ({small:,} nodes)",
    )
    show(fig)
    figs.append(fig)
    per_token = size / tokens
    fig = Figure(
        "3 storage",
        f"bytes per token on disk ({tokens:,} tokens, 10 alternatives each)",
        per_token,
        "B/tok",
        "JSON tree file",
        json_size / ((small + json_appends) * TOKENS),
        "<= 48 B/token",
        per_token <= 48,
        f"whole .loom file {size / 2**20:.1f} MiB; token blobs alone {blob / tokens:.1f} B/token",
    )
    show(fig)
    figs.append(fig)
    return figs
