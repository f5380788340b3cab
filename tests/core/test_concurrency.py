"""Two real processes writing one session at once.

- Two writer processes add nodes with API-style token data (ids the session
  interns) under the same parent at the same time: no corruption, no lost
  node, every token's alternatives read back as written, and each process
  sees the other's nodes on its still-open session.
- The app (through Textual's Pilot, generating with the real demo model)
  and a headless writer process at once: both sets of nodes land, and each
  side sees the other's.
- A process that holds the write lock too long: the other is told clearly
  that the session is busy, or waits and succeeds when the lock is freed.
"""

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from loom.store import Session, StoreError
from loom.tree import GenerationParams

WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from loom.store import Session
    from loom.tree import Alternative, Token

    path, name, count, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

    def node_tokens(who, i):
        # three API-style tokens (no ids): the session interns every text
        return [Token(f"<{who}:{i}:{j}>", -0.5, None,
                      tuple(Alternative(f"{who}/{i}/{j}/alt{k}", -1.0 - k, None) for k in range(3)))
                for j in range(3)]

    def mismatches(s):
        bad = []
        for node_id in s.all_ids():
            node = s.node(node_id)
            if node.author != "model":
                continue
            who, i = node.meta["who"], node.meta["i"]
            if node.tokens != node_tokens(who, i):
                bad.append(node_id)
        return bad

    with Session(path) as s:
        root = s.roots()[0].id
        (folder / f"ready-{name}").touch()
        while not (folder / "go").exists():
            time.sleep(0.001)
        mine = []
        for i in range(count):
            toks = node_tokens(name, i)
            node = s.add_node(root, "".join(t.text for t in toks), "model", model="api-model",
                              tokens=toks, meta={"who": name, "i": i})
            mine.append(node.id)
        (folder / f"done-{name}").touch()
        while len(list(folder.glob("done-*"))) < 2:
            time.sleep(0.005)
        seen = s.child_ids(root)  # the same open session, refreshed
        print(json.dumps({"mine": mine, "seen": seen, "bad": mismatches(s)}))
""")


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_two_writer_processes_lose_nothing_and_see_each_other(tmp_path):
    path = tmp_path / "shared.loom"
    with Session(path) as s:
        s.add_node(None, "root", "prompt")
    count = 60
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(count), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("A", "B")
    }
    for _ in range(3000):  # both open before either writes
        if len(list(tmp_path.glob("ready-*"))) == 2 or any(p.poll() is not None for p in procs.values()):
            break
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    a, b = results["A"], results["B"]
    assert len(a["mine"]) == len(b["mine"]) == count
    assert not set(a["mine"]) & set(b["mine"])
    everyone = sorted(a["mine"] + b["mine"])
    assert sorted(a["seen"]) == sorted(b["seen"]) == everyone  # each sees the other's nodes
    assert a["bad"] == b["bad"] == []  # token data of both writers intact, seen from either
    assert integrity(path) == "ok"
    with Session(path) as s:
        assert s.count() == 1 + 2 * count
        for node_id in everyone:
            node = s.node(node_id)
            who, i = node.meta["who"], node.meta["i"]
            assert [t.text for t in node.tokens] == [f"<{who}:{i}:{j}>" for j in range(3)]
            assert [a.text for a in node.tokens[2].alternatives] == [f"{who}/{i}/2/alt{k}" for k in range(3)]


HUMAN_WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from loom.store import Session
    path, root, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    with Session(path) as s:
        (folder / "writer-ready").touch()
        while not (folder / "go").exists():
            time.sleep(0.001)
        mine = [s.add_node(root, f" written by the CLI job {i}", "human").id for i in range(30)]
        while not (folder / "app-done").exists():
            time.sleep(0.01)
        print(json.dumps({"mine": mine, "seen": s.child_ids(root)}))
""")


async def test_app_and_a_headless_writer_at_once(tmp_path, demo_backend, workers_done, wait_until):
    from loom.ui.app import LoomApp
    from loom.ui.panels import ChildrenList

    path = tmp_path / "app.loom"
    s = Session(path)
    root = s.add_node(None, "Once upon a time", "prompt")
    s.current = root.id
    s.set_state("params", GenerationParams(n=4, max_tokens=24, seed=3).to_dict())
    writer = subprocess.Popen(
        [sys.executable, "-c", HUMAN_WRITER, str(path), str(root.id), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    app = LoomApp(s, backend=demo_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot, lambda: (tmp_path / "writer-ready").exists() or writer.poll() is not None, "the writer process"
        )
        await pilot.press("g")
        (tmp_path / "go").touch()
        await workers_done(pilot)
        assert app._cancel is None, "generation did not finish"
        (tmp_path / "app-done").touch()
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        theirs = json.loads(out)
        app.refresh_children()  # the app sees the CLI job's nodes
        await pilot.pause()
        generated = [r["id"] for r in s.summaries(root.id) if r["author"] == "model"]
        assert len(generated) == 4
        children = app.query_one(ChildrenList)
        assert children.option_count == 4 + 30
        shown = {int(children.get_option_at_index(i).id) for i in range(children.option_count)}
        assert set(theirs["mine"]) <= shown
    # and the CLI job saw the app's branches
    assert set(generated) <= set(theirs["seen"])
    assert len(set(theirs["mine"]) | set(generated)) == 34
    s.close()
    assert integrity(path) == "ok"


LOCK_HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    from pathlib import Path
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # take the write lock, as a long write by another loom would
    conn.execute("INSERT INTO state (key, value) VALUES ('holder', '1')")
    Path(sys.argv[2]).touch()
    release = Path(sys.argv[3])
    for _ in range(6000):
        if release.exists():
            break
        time.sleep(0.005)
    conn.execute("COMMIT")
""")


class ImpatientSession(Session):
    busy_timeout = 0.3


def test_busy_session_says_so_or_waits(tmp_path):
    path = tmp_path / "busy.loom"
    with Session(path) as s:
        root = s.add_node(None, "root", "prompt").id
    locked, release = tmp_path / "locked", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path), str(locked), str(release)], stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(3000):
            if locked.exists() or holder.poll() is not None:
                break
            time.sleep(0.01)
        assert locked.exists(), holder.stderr.read() if holder.poll() is not None else "lock holder did not start"
        with ImpatientSession(path) as s:
            assert [n.text for n in s.roots()] == ["root"]  # reading is never blocked (WAL)
            with pytest.raises(StoreError) as err:
                s.add_node(root, "blocked", "human")
            assert str(path) in str(err.value) and "busy" in str(err.value) and "nothing was written" in str(err.value)
            with pytest.raises(StoreError, match="busy"):
                s.add_tag(root, "blocked")
        # a patient session waits for the lock and then writes
        with Session(path) as s:
            threading.Timer(0.5, release.touch).start()
            node = s.add_node(root, "after the wait", "human")
            assert s.node(node.id).text == "after the wait"
    finally:
        release.touch()
        holder.wait(timeout=60)
    assert holder.returncode == 0
    with Session(path) as s:
        assert [n.text for n in s.children(root)] == ["after the wait"]
        assert s.get_state("holder") == 1
