"""Bad session files, done for real: garbage, truncation, a newer schema, a
read-only file and folder (as an unprivileged user when the suite runs as
root, since root ignores permissions), a full disk (a tiny tmpfs, and a file
size limit), and an old schema that is migrated after a backup copy.

Each gives a clear message naming the file and what is wrong, and the file is
never modified."""

import ctypes
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from loom.store import Session, StoreError
from loom.store.schema import MIGRATIONS, SCHEMA_VERSION


def make_session(path: Path, nodes: int = 3, size: int = 20) -> list[int]:
    with Session(path) as s:
        parent = None
        ids = []
        for i in range(nodes):
            parent = s.add_node(parent, f"node {i} " + "x" * size, "prompt" if parent is None else "human").id
            ids.append(parent)
        s.current = parent
    return ids


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# -- not a database, truncated, newer ----------------------------------------
def test_not_sqlite_names_the_file_and_leaves_it(tmp_path, loom_cli):
    bad = tmp_path / "notes.loom"
    bad.write_bytes(b"# my notes\n" + os.urandom(3000))
    before = bad.read_bytes()
    for cmd in (["show", bad], ["tag", bad, "--add", "x"], ["export", bad, "-o", tmp_path / "out.json"]):
        rc, _, err = loom_cli(*cmd)
        assert rc == 2
        assert str(bad) in err and "not an SQLite database" in err
        assert "Traceback" not in err
    assert bad.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.loom"]


def test_a_folder_is_not_a_session(tmp_path, loom_cli):
    folder = tmp_path / "thing.loom"
    folder.mkdir()
    rc, _, err = loom_cli("show", folder)
    assert rc == 2 and str(folder) in err and "folder" in err


@pytest.mark.parametrize("keep", ["header-only", "half", "all-but-last-page"])
def test_truncated_database_is_refused_untouched(tmp_path, keep, loom_cli):
    path = tmp_path / "cut.loom"
    make_session(path, nodes=200, size=400)
    full = path.read_bytes()
    page = int.from_bytes(full[16:18], "big")
    cut = {"header-only": 50, "half": len(full) // 2, "all-but-last-page": len(full) - page}[keep]
    path.write_bytes(full[:cut])
    before = path.read_bytes()
    with pytest.raises(StoreError) as err:
        Session(path)
    assert str(path) in str(err.value)
    rc, _, cli_err = loom_cli("show", path)
    assert rc == 2 and str(path) in cli_err
    if keep != "header-only":
        assert "truncated" in cli_err
    assert path.read_bytes() == before


def test_newer_schema_is_refused_untouched(tmp_path, loom_cli):
    path = tmp_path / "future.loom"
    make_session(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for cmd in (["show", path], ["tag", path, "--add", "x"]):
        rc, _, err = loom_cli(*cmd)
        assert rc == 2 and str(path) in err and "newer loom" in err and f"schema {SCHEMA_VERSION + 1}" in err
    assert path.read_bytes() == before


# -- old schema: migrated after a backup -------------------------------------
OLD_WRITER = textwrap.dedent("""
    import os, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1])
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # the nodes stay in the -wal file
    conn.executescript(sys.argv[2] + "; PRAGMA user_version = 1;")
    for i in range(5):
        conn.execute("INSERT INTO nodes (parent_id, text, author, created) VALUES (?, ?, 'human', 0)",
                     (i or None, f"old node {i}"))
        conn.commit()
    os._exit(0)  # like a crash: no close, no checkpoint
""")


def test_old_schema_is_migrated_after_a_backup_copy(tmp_path):
    path = tmp_path / "old.loom"
    subprocess.run([sys.executable, "-c", OLD_WRITER, str(path), MIGRATIONS[0]], check=True)
    assert Path(f"{path}-wal").stat().st_size > 0  # the old nodes are only in the WAL
    with Session(path) as s:
        assert [s.node(i).text for i in s.all_ids()] == [f"old node {i}" for i in range(5)]
        s.set_note(1, "notes need schema 2")
    backup = tmp_path / "old.loom.v1.bak"
    assert backup.exists()
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM nodes").fetchone()[0] == 5
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    # a second upgrade never overwrites the first backup
    before = backup.read_bytes()
    with Session(path):
        pass
    assert backup.read_bytes() == before


# -- read-only file and folder -------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore file modes
ROOT_FILE_CAPS = (1, 2, 3)


def _without_root_file_powers() -> None:
    """In the child before exec: drop the capabilities that let root write a
    read-only file, so permissions bite as they do for a normal user."""
    if os.geteuid() == 0:
        for cap in ROOT_FILE_CAPS:
            if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def as_user(*args) -> subprocess.CompletedProcess:
    """`loom ARGS` in a real process that file permissions apply to."""
    return subprocess.run(
        [sys.executable, "-m", "loom", *map(str, args)],
        preexec_fn=_without_root_file_powers,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_read_only_file_opens_read_only_and_refuses_writes(tmp_path):
    path = tmp_path / "ro.loom"
    make_session(path)
    path.chmod(0o444)
    before = path.read_bytes()
    shown = as_user("show", path)
    assert shown.returncode == 0, shown.stderr
    assert "node 2" in shown.stdout
    for cmd in (["tag", path, "--add", "x"], ["tag", path, "--note", "a note"]):
        res = as_user(*cmd)
        assert res.returncode == 2
        assert str(path) in res.stderr and "read-only" in res.stderr
        assert "Traceback" not in res.stderr
    assert path.read_bytes() == before
    assert integrity(path) == "ok"


def test_read_only_folder_is_named(tmp_path):
    shared_dir = tmp_path / "ro-folder"
    shared_dir.mkdir()
    path = shared_dir / "in-ro-folder.loom"
    make_session(path)
    before = path.read_bytes()
    shared_dir.chmod(0o555)
    try:
        res = as_user("tag", path, "--add", "x")  # needs -wal/-shm files beside it
        assert res.returncode == 2, res.stdout
        assert str(path) in res.stderr and str(shared_dir) in res.stderr
        assert "Traceback" not in res.stderr
        new = as_user("new", shared_dir / "fresh.loom", "--prompt", "x")
        assert new.returncode == 2
        assert str(shared_dir / "fresh.loom") in new.stderr and str(shared_dir) in new.stderr
    finally:
        shared_dir.chmod(0o755)
    assert path.read_bytes() == before
    assert not (shared_dir / "fresh.loom").exists()


def test_read_commands_work_in_a_read_only_folder_and_create_nothing(tmp_path):
    shared_dir = tmp_path / "ro-read"
    shared_dir.mkdir()
    path = shared_dir / "s.loom"
    make_session(path)
    before = path.read_bytes()
    listing = sorted(p.name for p in shared_dir.iterdir())
    shared_dir.chmod(0o555)
    out = tmp_path / "out.md"
    try:
        for cmd in (
            ["show", path],
            ["search", path, "node"],
            ["export", path, "-f", "markdown", "-o", out],
            ["export", path, "-f", "csv"],
            ["export", path, "-f", "loom-json"],
        ):
            res = as_user(*cmd)
            assert res.returncode == 0, (cmd, res.stderr)
    finally:
        shared_dir.chmod(0o755)
    assert "node 2" in out.read_text()
    assert path.read_bytes() == before
    assert sorted(p.name for p in shared_dir.iterdir()) == listing


def test_read_commands_never_write(tmp_path):
    """show, search and export open the session read-only: no byte of it changes, no file appears."""
    path = tmp_path / "s.loom"
    make_session(path)
    with Session(path):
        pass  # a clean close: the WAL is checkpointed and removed
    before = path.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    for cmd in (["show", path], ["search", path, "node"], ["export", path, "-f", "text"]):
        res = as_user(*cmd)
        assert res.returncode == 0, (cmd, res.stderr)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


@pytest.mark.parametrize("cmd", [["show"], ["search", "x"], ["export", "-f", "text"]])
def test_read_commands_refuse_an_empty_file_and_leave_it_empty(tmp_path, cmd):
    path = tmp_path / "empty.loom"
    path.write_bytes(b"")
    res = as_user(cmd[0], path, *cmd[1:])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(path) in res.stderr and "empty" in res.stderr
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["empty.loom"]


# -- full disk ---------------------------------------------------------------
def fill_until_full(path: Path) -> tuple[list[int], str]:
    """Add 20 kB nodes until the store refuses; return the ids it accepted and its message."""
    kept: list[int] = []
    with Session(path) as s:
        parent = None
        for i in range(10_000):
            try:
                parent = s.add_node(parent, f"{i:05d}" + "z" * 20_000, "human").id
            except StoreError as exc:
                return kept, str(exc)
            kept.append(parent)
    raise AssertionError("the disk never filled")


@pytest.fixture
def tiny_fs():
    """A 1 MiB tmpfs, mounted for the test (needs root and mount permission)."""
    mnt = Path(tempfile.mkdtemp(prefix="loom-full-"))
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        mnt.rmdir()
        pytest.skip(
            f"cannot mount a tiny tmpfs here ({res.stderr.strip() or 'mount failed'}); "
            "test_full_disk_by_file_size_limit covers a full disk instead"
        )
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)
    mnt.rmdir()


def test_full_disk_on_a_tiny_filesystem(tiny_fs):
    path = tiny_fs / "full.loom"
    kept, message = fill_until_full(path)
    assert kept, "some nodes should fit"
    assert str(path) in message and "disk is full" in message
    assert integrity(path) == "ok"
    with Session(path) as s:  # everything committed before the disk filled is there, unchanged
        assert s.all_ids() == kept
        assert all(s.node(i).text.startswith(f"{n:05d}") for n, i in enumerate(kept))


FSIZE_WRITER = textwrap.dedent("""
    import json, resource, signal, sys
    sys.path.insert(0, sys.argv[2])
    from test_bad_files import fill_until_full
    from pathlib import Path
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))  # room for a new file of 32 KiB pages
    kept, message = fill_until_full(Path(sys.argv[1]))
    print(json.dumps({"kept": kept, "message": message}))
""")


def test_full_disk_by_file_size_limit(tmp_path):
    """The same with RLIMIT_FSIZE in a subprocess: works without mount permission."""
    path = tmp_path / "limited.loom"
    res = subprocess.run(
        [sys.executable, "-c", FSIZE_WRITER, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kept"] and str(path) in out["message"]
    assert "a write to the disk failed" in out["message"] and "nothing was written" in out["message"]
    assert integrity(path) == "ok"
    with Session(path) as s:
        assert s.all_ids() == out["kept"]


def test_fsize_limit_is_real():
    """Guard for the test above: the limit really stops a write in a child process."""
    code = (
        "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000));"
        "import tempfile; f = tempfile.TemporaryFile(); f.write(b'x' * 5000); f.flush()"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode != 0 and "File too large" in res.stderr
