"""Kill a real `python -m loom generate` with SIGKILL at random moments.

A reference run (same seeds, not killed) gives every branch's exact text and
token data. While a killed run works, a watcher in this process reads the
session file (read-only) and records each node the moment it is committed.
After each kill:

- every node the watcher saw committed is on disk, byte for byte;
- every node on disk is a whole branch, identical to the reference branch with
  the same seed (a branch cut off midway is absent; a kill never leaves an
  incomplete node, as only a cancel makes those, so one would be a prefix);
- PRAGMA integrity_check is ok, and the session reopens and takes new nodes.

The suite runs two kills (LOOM_KILL_RUNS, default 2). The long version:

    LOOM_KILL_RUNS=40 pytest tests/cli/test_kill.py -q

LOOM_KILL_SEED replays one sequence of kill moments (the seed is printed).
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loom.store import Session

RUNS = int(os.environ.get("LOOM_KILL_RUNS", "2"))
N = 8
GENERATE = [
    "-n",
    str(N),
    "--max-tokens",
    "150",
    "--seed",
    "5",
    "--temperature",
    "0.7",
    "--top-k",
    "40",
    "--stop",
    ".",
    "--stop",
    "!",
    "--stop",
    "?",
    "--model",
    "demo",
    "--quiet",
    "--json",
]
PROMPT = "Once upon a time there was a king. "


def read_model_nodes(path: Path) -> dict[int, tuple]:
    """{id: (seed, text, complete, tokens blob)} for the model's nodes, read-only."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT id, json_extract(params, '$.seed'), text, complete, tokens FROM nodes WHERE author = 'model'"
        ).fetchall()
    finally:
        conn.close()
    return {r[0]: tuple(r[1:]) for r in rows}


class Watcher(threading.Thread):
    """Polls the session file and keeps each committed node as first seen."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.seen: dict[int, tuple] = {}
        self.first_seen: float | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                rows = read_model_nodes(self.path)
            except sqlite3.OperationalError:
                rows = {}  # the writer holds a lock for a moment: look again
            for node_id, row in rows.items():
                self.seen.setdefault(node_id, row)
            if rows and self.first_seen is None:
                self.first_seen = time.monotonic()
            self.halt.wait(0.005)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("kill-env")
    config = home / "config.toml"
    config.write_text("")  # no user config: the test's flags decide everything
    return {
        **os.environ,
        "LOOM_CONFIG": str(config),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LOOM_SESSIONS_DIR": str(home),
    }


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A session with just a prompt, copied for every run."""
    path = tmp_path_factory.mktemp("kill-fresh") / "fresh.loom"
    with Session(path) as s:
        s.current = s.add_node(None, PROMPT, "prompt").id
    return path


def start(path: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loom", "generate", str(path), *GENERATE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def reference(fresh, env, tmp_path_factory):
    """The branches of an uninterrupted run, by seed, and when its nodes appeared."""
    path = tmp_path_factory.mktemp("kill-ref") / "ref.loom"
    shutil.copy(fresh, path)
    watcher = Watcher(path)
    watcher.start()
    t0 = time.monotonic()
    proc = start(path, env)
    out, err = proc.communicate(timeout=300)
    t_end = time.monotonic() - t0
    watcher.halt.set()
    watcher.join()
    assert proc.returncode == 0, err.decode()
    nodes = read_model_nodes(path)
    assert len(nodes) == N and all(row[2] == 1 for row in nodes.values())
    by_seed = {row[0]: row for row in nodes.values()}
    assert len(by_seed) == N
    with Session(path) as s:
        tokens = {s.node(i).params["seed"]: s.node(i).tokens for i in nodes}
    return {"by_seed": by_seed, "tokens": tokens, "t_first": watcher.first_seen - t0, "t_end": t_end}


def kill_once(fresh: Path, env: dict, folder: Path, delay: float, after_first: bool) -> dict:
    """Run a generation and SIGKILL it `delay` seconds after it started, or
    after its first branch was committed; return what the checks need."""
    path = folder / "run.loom"
    shutil.copy(fresh, path)
    watcher = Watcher(path)
    watcher.start()
    t0 = time.monotonic()
    proc = start(path, env)
    while proc.poll() is None:
        start_at = watcher.first_seen if after_first else t0
        if start_at is not None and time.monotonic() - start_at >= delay:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.communicate(timeout=60)
    watcher.halt.set()
    watcher.join()
    return {"path": path, "seen": watcher.seen, "returncode": proc.returncode}


def check_after_kill(run: dict, reference: dict) -> dict[int, tuple]:
    path = run["path"]
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    on_disk = read_model_nodes(path)
    for node_id, row in run["seen"].items():  # nothing committed is lost
        assert on_disk.get(node_id) == row, f"node {node_id} was committed, then lost or changed"
    for node_id, (seed, text, complete, blob) in on_disk.items():  # nothing half-written
        ref_seed, ref_text, _, ref_blob = reference["by_seed"][seed]
        if complete:
            assert (text, blob) == (ref_text, ref_blob), f"node {node_id} (seed {seed}) differs from its branch"
        else:
            assert ref_text.startswith(text), f"incomplete node {node_id} is not a prefix of its branch"
    assert len({row[0] for row in on_disk.values()}) == len(on_disk), "a branch was saved twice"
    with Session(path) as s:  # it reopens, token data intact, and takes new work
        for node_id in on_disk:
            node = s.node(node_id)
            if node.complete:
                assert node.tokens == reference["tokens"][node.params["seed"]]
        extra = s.add_node(s.roots()[0].id, " after the crash", "human")
        assert s.node(extra.id).text == " after the crash"
    return on_disk


def test_sigkill_during_generation_loses_nothing_committed(fresh, env, reference, tmp_path):
    seed = int(os.environ.get("LOOM_KILL_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(
        f"kill moments from LOOM_KILL_SEED={seed}; reference: first node after {reference['t_first']:.1f} s, "
        f"done after {reference['t_end']:.1f} s"
    )
    saved_counts = []
    for i in range(RUNS):
        # The first run is killed right as its first branch lands, so that one
        # kill surely falls mid-generation. The rest: most at a random moment
        # between the first commit and the end of the reference run, some
        # while the process starts (from its own first commit, so a slow,
        # busy machine shifts nothing).
        span = reference["t_end"] - reference["t_first"]
        if i == 0:
            delay, after_first = 0.0, True
        elif rng.random() < 0.8:
            delay, after_first = rng.uniform(0, span), True
        else:
            delay, after_first = rng.uniform(0, reference["t_first"]), False
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        run = kill_once(fresh, env, folder, delay, after_first)
        on_disk = check_after_kill(run, reference)
        saved_counts.append(len(on_disk))
        if i == 0:
            assert run["returncode"] == -signal.SIGKILL
            assert 1 <= len(on_disk) < N, "the first kill should land between two branches"
        shutil.rmtree(folder)
    print("branches saved per kill:", saved_counts)
