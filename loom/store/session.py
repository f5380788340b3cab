"""One session = one SQLite file (through sqlite-utils).

Every change is committed when it happens (or, inside batched(), within a
fraction of a second, many nodes to one transaction): there is no Save. Nodes
are never rewritten in place; an edit adds a new node that records what it came from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..tree import LoomError, Node, Token
from . import codec
from .schema import MIGRATIONS, SCHEMA_VERSION

SQLITE_MAGIC = b"SQLite format 3\x00"
SUFFIX = ".loom"
PAGE_SIZE = 32768  # for new session files: see _migrate
DECODED_TOKENS = 50_000  # tokens kept decoded in memory (about 1.5 KB each with 10 alternatives)
BATCH_NODES = 64  # inside batched(): nodes committed together at most...
BATCH_SECONDS = 0.2  # ...and the longest a node waits for its commit


#: json.dumps, without the check for circular references (a node's params and meta are JSON data)
_json = json.JSONEncoder(check_circular=False).encode


class StoreError(LoomError):
    """A session file cannot be used; the message names the file and the cause."""


class StoredNode(Node):
    """A node of a path read from a session, its tokens decoded when first read:
    a long path opens without decoding the nodes that are not on screen (the path
    view lays out its end first and the rest as the app waits for keys). It is
    the Node it stands for: equal to it, copied and pickled as it."""

    _pending: tuple[Session, bytes, str] | None = None  # the session, the tokens' blob and the model
    _tokens: list[Token] | None = None

    @property
    def tokens(self) -> list[Token] | None:
        pending = self._pending
        if pending is not None:
            session, blob, model = pending
            self._tokens = session._tokens(self.id, blob, self.text, model)
            self._pending = None  # after the tokens: a reader that sees no blob sees them
        return self._tokens

    @tokens.setter
    def tokens(self, value: list[Token] | None) -> None:
        self._tokens, self._pending = value, None

    def token_count(self) -> int:
        pending = self._pending
        return codec.token_count(pending[1]) if pending is not None else len(self._tokens or ())

    def _plain(self) -> Node:
        return Node(**{f.name: getattr(self, f.name) for f in fields(Node)})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(Node))

    __hash__ = None  # type: ignore[assignment]  # as Node's (a mutable dataclass)

    def __repr__(self) -> str:
        return repr(self._plain())

    def __reduce__(self) -> tuple[type[Node], tuple[Any, ...]]:
        return (Node, tuple(getattr(self, f.name) for f in fields(Node)))


# Python strings may hold lone surrogates (from JSON "\ud800" escapes or
# surrogateescape-decoded bytes), which sqlite3 refuses to encode. Such a text is
# stored as its surrogatepass UTF-8 bytes cast to TEXT and decoded the same way,
# so every str reads back exactly as written.
def _sql_text(text: str) -> str | bytes:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _text_factory(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # bytes no loom wrote (another tool, damage): shown, not fatal
        return data.decode("utf-8", "replace")


def _preview(data: bytes | None, chars: int) -> str:
    """The first `chars` characters from the first bytes of a text. SQLite's
    substr() stops at a NUL, so previews are cut from the bytes instead."""
    data = data or b""
    for cut in range(4):  # the byte slice may end inside a character
        try:
            return data[: len(data) - cut].decode("utf-8", "surrogatepass")[:chars]
        except UnicodeDecodeError:
            continue
    return _text_factory(data)[:chars]


def _write_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """A write failure in words: busy, full disk, read-only, or SQLite's own message."""
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        why = "the session is busy: another process kept it locked too long; nothing was written, try again"
    elif "full" in msg:
        why = "the disk is full; nothing was written and the session is unchanged"
    elif "disk I/O error" in msg:
        why = (
            "a write to the disk failed (the disk may be full, the file over a size limit, or the device failing); "
            "nothing was written and the session is unchanged"
        )
    elif "readonly" in msg or "read-only" in msg:
        why = f"the file or its folder {path.parent} is read-only; nothing was written"
    else:
        why = f"could not write ({msg})"
    return StoreError(f"{path}: {why}")


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added (sqlite3 types lastrowid as optional)."""
    if cur.lastrowid is None:
        raise StoreError("the database reported no id for the row just added")
    return cur.lastrowid


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a session file")
    if path.exists() and path.stat().st_size:
        with path.open("rb") as fh:
            head = fh.read(100)
        if head[:16] != SQLITE_MAGIC:
            raise StoreError(f"{path}: not a loom session (the file is not an SQLite database)")
        # A file shorter than its header says is truncated (a bad copy or a full
        # disk). Only checked with no pending -wal, which may hold the rest.
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        valid = len(head) == 100 and head[92:96] == head[24:28]
        wal = path.with_name(path.name + "-wal")
        if valid and not (wal.exists() and wal.stat().st_size) and path.stat().st_size < pages * page_size:
            raise StoreError(
                f"{path}: the file is truncated ({path.stat().st_size} bytes; its header says {pages * page_size}): "
                "restore it from a backup copy. The file was not changed."
            )


class Session:
    """A tree of nodes in one SQLite file. Safe to use from worker threads.
    Several processes may write one session at once (WAL): each waits up to
    `busy_timeout` seconds for another's write to finish."""

    busy_timeout = 10.0

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, readonly: bool = False):
        self.path = Path(path)
        _check_file(self.path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: no such session")
            if not self.path.parent.exists():
                raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        self._readonly_why = "opened read-only"
        if readonly and self.path.exists() and not self.path.stat().st_size:
            raise StoreError(f"{self.path}: is empty (0 bytes), not a loom session; the file was not changed")
        writable = self.path.exists() and os.access(self.path, os.W_OK)
        if not readonly and self.path.exists() and not writable:
            readonly = True
            self._readonly_why = "the file is read-only (no write permission), so it was opened read-only"
        self.readonly = readonly
        # Read-only, without creating or changing any file: where the file and its
        # folder are writable, an ordinary connection that refuses writes (query_only;
        # its close removes the -wal/-shm files as a writer's does, where SQLite's
        # mode=ro would leave them behind); where they are not, nobody can write it,
        # so SQLite may read it as immutable (no -shm needed).
        frozen = readonly and not (writable and os.access(self.path.parent, os.W_OK))
        try:
            if frozen:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=self.busy_timeout)
            conn.text_factory = _text_factory
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"{self.path}: made by a newer loom (schema {version}; this loom reads up to {SCHEMA_VERSION}); "
                    "upgrade loom to open it. The file was not changed."
                )
            if readonly and version < SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: is {'read-only' if frozen else 'opened read-only'} and needs a schema "
                    f"upgrade (schema {version} -> {SCHEMA_VERSION}); any command that writes to it "
                    "(e.g. `loom tag`), or the app, upgrades it"
                )
            if readonly:
                conn.execute("PRAGMA query_only = 1")
            else:
                if version < SCHEMA_VERSION:
                    self._migrate(conn, version)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Integrity-check a sample of the file cheaply: a truncated file fails here.
            conn.execute("SELECT count(*) FROM nodes").fetchone()
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise StoreError(
                    f"{self.path}: cannot be opened: loom needs to create or write the file and its journal files "
                    f"in {self.path.parent} ({exc})"
                ) from exc
            if "locked" in str(exc) or "full" in str(exc):
                raise _write_error(self.path, exc) from exc
            raise StoreError(f"{self.path}: cannot be read as a loom session ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot be read as a loom session ({exc})") from exc
        self.conn = conn
        self._db: Any = None
        self._lock = threading.RLock()
        self._decoded: OrderedDict[int, tuple[bytes, str, list[Token]]] = OrderedDict()
        self._decoded_count = 0
        self._decoded_limit = DECODED_TOKENS  # grows to hold the longest path read (see path_nodes)
        # chosen ids of recently read nodes (path_ids), by node: a deep path reads the same ancestors each time
        self._chosen: OrderedDict[int, tuple[bytes, tuple[int, ...] | None]] = OrderedDict()
        # the last path read: its ids root first, and id -> (depth, node)
        self._last_path: tuple[list[int], dict[int, tuple[int, Node]]] = ([], {})
        self._vocab: dict[str, dict[int, str]] = {}
        self._intern: dict[str, dict[str, int]] = {}
        self._vocab_top: dict[str, int] = {}  # per vocabulary, the highest id known: no call takes max() of it
        self._samplers: dict[str, str | None] = {}  # params (as JSON) -> their sampler: a bulk import repeats a few
        self._bulk_depth = 0  # > 0 inside bulk(): writes join its one transaction
        self._bulk_synced: set[str] = set()  # vocabularies read since this bulk() block took the write lock
        self._batch: _Batch | None = None  # inside batched(): how nodes are grouped into commits

    @property
    def db(self) -> Any:
        """The session's database as a sqlite_utils.Database, for scripts that want its
        API. Made when first asked for: sqlite_utils imports pandas when it loads, a
        third of a second of loom's start-up that the store itself does not need."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    # -- lifecycle -----------------------------------------------------------
    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        is_new = version == 0 and not conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if is_new:
            # nodes with their token data run to a few KiB (2.6 KiB for 64 tokens with 10
            # alternatives): 32 KiB pages hold a dozen and leave 7% empty, where 8 KiB
            # pages held two or three and left 31% (measured: 47 bytes a token, from 65)
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        else:
            # sqlite's backup API, not a file copy: an old WAL session may hold
            # committed nodes in its -wal file that the main file lacks.
            backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
            if backup.exists():
                backup = self.path.with_name(f"{self.path.name}.v{version}.{int(time.time())}.bak")
            dest = sqlite3.connect(backup)
            try:
                conn.backup(dest)
            finally:
                dest.close()
            shutil.copystat(self.path, backup)
        for step in range(version, SCHEMA_VERSION):
            conn.executescript("BEGIN;" + MIGRATIONS[step] + f"; PRAGMA user_version = {step + 1}; COMMIT;")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(SUFFIX)

    # -- writing -------------------------------------------------------------
    def _write(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        if self.readonly:
            raise StoreError(f"{self.path}: {self._readonly_why}; nothing can be added")
        with self._lock:
            if self._bulk_depth:
                try:
                    return self.conn.execute(sql, tuple(args))
                except sqlite3.OperationalError as exc:
                    raise _write_error(self.path, exc) from exc
            try:
                with self.conn:
                    return self.conn.execute(sql, tuple(args))
            except sqlite3.OperationalError as exc:
                raise _write_error(self.path, exc) from exc

    _INSERT = (
        "INSERT INTO nodes (id, parent_id, text, author, derived_from, model, params, sampler, created,"
        " complete, n_tokens, mean_prob, tokens, meta) VALUES (?,?,CAST(? AS TEXT),?,?,CAST(? AS TEXT),?,?,?,?,?,?,?,?)"
    )

    @contextmanager
    def bulk(self) -> Iterator[Session]:
        """One write transaction for many changes (an import): inside the block add_node,
        set_state, add_tag, set_note and add_record write without committing, and the block
        commits them all at its end, or none of them if it raises (or the process dies
        first). The write lock is taken at the start (BEGIN IMMEDIATE), so other
        processes wait for the whole block. Blocks nest: only the outermost commits."""
        if self.readonly:
            raise StoreError(f"{self.path}: {self._readonly_why}; nothing can be added")
        with self._lock:
            if self._batch is not None and self._batch.open:
                self._commit_batch()  # a batch's transaction is not a bulk block: it must not swallow this one
            if self._bulk_depth:
                self._bulk_depth += 1
                try:
                    yield self
                finally:
                    self._bulk_depth -= 1
                return
            self._begin_immediate()
            self._bulk_depth = 1
            self._bulk_synced.clear()
            ok = False
            try:
                yield self
                ok = True
            finally:
                self._bulk_depth = 0
                if ok:
                    try:
                        self.conn.commit()
                    except sqlite3.OperationalError as exc:
                        self._rollback()
                        raise _write_error(self.path, exc) from exc
                else:
                    self._rollback()

    @contextmanager
    def batched(self, nodes: int = BATCH_NODES, seconds: float = BATCH_SECONDS) -> Iterator[Session]:
        """Inside the block, add_node commits its nodes in batches: at least every `nodes`
        nodes and every `seconds` (a timer commits a batch that waits), and at the block's
        end, also when it raises. Each batch is one transaction, so a process killed
        meanwhile loses at most the batch not yet committed, and never leaves a partial
        node. Many nodes a second (a report through a server) cost one commit per batch
        instead of one each. Other writes made meanwhile join the batch."""
        if self.readonly:
            yield self
            return
        with self._lock:
            if self._batch is not None:  # already batching (another caller's block): its commits serve both
                outer = True
            else:
                outer = False
                self._batch = _Batch(nodes, seconds)
        try:
            yield self
        finally:
            if not outer:
                with self._lock:
                    batch, self._batch = self._batch, None
                    self._commit_batch(batch)
                if batch is not None and batch.error is not None:
                    raise batch.error

    def _begin_immediate(self) -> None:
        """A write transaction with the write lock taken now (BEGIN IMMEDIATE), ending any read one."""
        conn = self.conn
        try:
            if conn.in_transaction:
                conn.commit()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _write_error(self.path, exc) from exc

    def _begin_batch(self) -> None:
        """Open the batch's transaction (with the write lock: see add_node), under self._lock."""
        batch = self._batch
        assert batch is not None
        self._begin_immediate()
        batch.open, batch.pending = True, 0
        self._bulk_depth = 1  # writes join the batch's transaction, as they join a bulk block's
        self._bulk_synced.clear()
        batch.timer = threading.Timer(batch.seconds, self._commit_batch, (batch,))
        batch.timer.daemon = True
        batch.timer.start()

    def _commit_batch(self, batch: _Batch | None = None) -> None:
        """Commit the open batch, if any (from add_node, the timer, or the block's end)."""
        with self._lock:
            batch = batch or self._batch
            if batch is None or not batch.open:
                return
            batch.open = False
            if batch.timer is not None:
                batch.timer.cancel()
            self._bulk_depth = 0
            try:
                self.conn.commit()
            except sqlite3.OperationalError as exc:
                self._rollback()
                batch.error = _write_error(self.path, exc)
                if threading.current_thread() is not batch.timer:
                    raise batch.error from exc

    def _rollback(self) -> None:
        """Undo the bulk transaction, and forget vocabulary ids it cached."""
        try:
            self.conn.rollback()
        finally:
            self._vocab.clear()
            self._intern.clear()
            self._vocab_top.clear()
            self._last_path = ([], {})  # it may hold nodes of the undone transaction, whose ids come again

    def add_node(
        self,
        parent_id: int | None,
        text: str,
        author: str,
        *,
        derived_from: int | None = None,
        model: str | None = None,
        params: dict[str, Any] | None = None,
        tokens: list[Token] | None = None,
        complete: bool = True,
        meta: dict[str, Any] | None = None,
        created: float | None = None,
        node_id: int | None = None,
    ) -> Node:
        """Insert one node and commit it. Tokens' texts must join to `text`.
        `node_id` asks for a given id (a lossless import into an empty session)."""
        if tokens and "".join([t.text for t in tokens]) != text:
            raise ValueError("token texts do not add up to the node text")
        probs = [p for t in tokens or () if (p := t.prob) is not None]
        mean = sum(probs) / len(probs) if probs else None
        created = time.time() if created is None else created
        params_json = None
        sampler = None
        if params:
            params_json = _json(params)
            if params_json in self._samplers:
                sampler = self._samplers[params_json]
            else:
                from ..tree import GenerationParams

                sampler = GenerationParams.from_dict(params).sampler
                if len(self._samplers) >= 256:
                    self._samplers.clear()
                self._samplers[params_json] = sampler
        if self.readonly:
            raise StoreError(f"{self.path}: {self._readonly_why}; nothing can be added")
        conn = self.conn
        row = (
            node_id,
            parent_id,
            _sql_text(text),
            author,
            derived_from,
            None if model is None else _sql_text(model),
            params_json,
            sampler,
            created,
            int(complete),
            len(tokens or ()),
            mean,
            None,
            _json(meta) if meta else None,
        )
        with self._lock:
            batch = self._batch
            if batch is not None:
                if batch.error is not None:
                    raise batch.error
                if not batch.open and not self._bulk_depth:
                    self._begin_batch()
            if self._bulk_depth:  # inside bulk() or a batch: its transaction, committed when it ends
                blob, cache_new = self._encode_tokens(model or "", tokens) if tokens else (None, None)
                try:
                    cur = conn.execute(self._INSERT, row[:12] + (blob,) + row[13:])
                except sqlite3.OperationalError as exc:
                    raise _write_error(self.path, exc) from exc
                if cache_new:
                    cache_new()  # forgotten again if the bulk transaction rolls back
                if batch is not None and batch.open:
                    batch.pending += 1
                    if batch.pending >= batch.nodes:
                        self._commit_batch(batch)
                return Node(
                    _inserted_id(cur),
                    parent_id,
                    text,
                    author,
                    derived_from,
                    model,
                    params,
                    created,
                    complete,
                    tokens,
                    meta or {},
                )
            try:
                # One transaction for the node and its new vocabulary rows, taken
                # with the write lock at once so that another process's interned
                # ids cannot collide with ours.
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    blob, cache_new = self._encode_tokens(model or "", tokens) if tokens else (None, None)
                    cur = conn.execute(self._INSERT, row[:12] + (blob,) + row[13:])
            except sqlite3.OperationalError as exc:
                raise _write_error(self.path, exc) from exc
            node_id = _inserted_id(cur)
            if cache_new:
                cache_new()
        return Node(
            node_id, parent_id, text, author, derived_from, model, params, created, complete, tokens, meta or {}
        )

    def _encode_tokens(self, model: str, tokens: list[Token]) -> tuple[bytes, Callable[[], None]]:
        """The token blob, inside add_node's write transaction, and a function that
        adds the new vocabulary rows to the caches once that transaction committed."""
        # session-interned ids unless every token and every alternative has its model id
        interned = any(t.token_id is None for t in tokens) or any(
            a.token_id is None for t in tokens for a in t.alternatives
        )
        key = ("~" if interned else "") + model
        known = self._load_vocab(key)
        new: dict[int, str] = {}
        fresh: dict[str, int] = {}
        table: dict[str, int] = {}  # text -> interned id (interned only)
        next_id = 0
        if interned:
            cached = self._intern.get(key)
            if cached is None:  # built once per vocabulary, not on every call
                cached = self._intern[key] = {v: k for k, v in known.items()}
            table = cached
            if key not in self._vocab_top:
                self._vocab_top[key] = max(known, default=-1)
            # ids another process interned since we loaded: read under the write lock
            # (inside bulk() the lock is ours for the whole block: read once)
            if not (self._bulk_depth and key in self._bulk_synced):
                for i, text in self.conn.execute(
                    "SELECT id, text FROM vocab WHERE model = ? AND id > ?", (key, self._vocab_top[key])
                ).fetchall():
                    known[i] = text
                    table.setdefault(text, i)
                    self._vocab_top[key] = max(self._vocab_top[key], i)
                if self._bulk_depth:
                    self._bulk_synced.add(key)
            next_id = self._vocab_top[key] + 1

        def idof(text: str, tid: int | None) -> int:
            if interned or tid is None:  # (tid is None only when interned)
                i = table.get(text, fresh.get(text))
                if i is None:
                    i = fresh[text] = next_id + len(fresh)
                    new[i] = text
                return i
            if tid not in known:
                new[tid] = text
            return tid

        # a server that names its sampled ids but not its alternatives' (vLLM): the chosen ids stay the model's
        model_ids = [t.token_id for t in tokens if t.token_id is not None]
        chosen_ids = interned and len(model_ids) == len(tokens)
        if interned:  # the usual case, a text already interned, without a call (a bulk import makes millions)
            get = table.get
            ids = (
                model_ids
                if chosen_ids
                else [i if (i := get(t.text)) is not None else idof(t.text, None) for t in tokens]
            )
            alt_ids = [
                [i if (i := get(a.text)) is not None else idof(a.text, None) for a in t.alternatives] for t in tokens
            ]
        else:
            ids = [idof(t.text, t.token_id) for t in tokens]
            alt_ids = [[idof(a.text, a.token_id) for a in t.alternatives] for t in tokens]
        if new:
            self.conn.executemany(
                "INSERT OR IGNORE INTO vocab (model, id, text) VALUES (?,?,CAST(? AS TEXT))",
                [(key, i, _sql_text(s)) for i, s in new.items()],
            )

        def cache_new() -> None:
            known.update(new)
            if interned:
                table.update(fresh)
                if new:
                    self._vocab_top[key] = max(self._vocab_top[key], max(new))

        return codec.encode(tokens, ids, alt_ids, interned=interned, chosen_ids=chosen_ids), cache_new

    def _load_vocab(self, key: str) -> dict[int, str]:
        if key not in self._vocab:
            rows = self.conn.execute("SELECT id, text FROM vocab WHERE model = ?", (key,))
            self._vocab[key] = dict(rows.fetchall())
        return self._vocab[key]

    def set_state(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def set_state_json(self, key: str, text: str | bytes | bytearray) -> None:
        """set_state with the value already as JSON text (json.dumps's), or as its UTF-8 bytes: a big
        value written a piece at a time (an import's model responses) need not be held as objects too."""
        if isinstance(text, str):
            self._write("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, text))
        else:  # stored as the text it is, not as a blob
            self._write("INSERT OR REPLACE INTO state (key, value) VALUES (?, CAST(? AS TEXT))", (key, text))

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def add_tag(self, node_id: int, tag: str) -> None:
        self._write("INSERT OR IGNORE INTO tags (node_id, tag) VALUES (?, CAST(? AS TEXT))", (node_id, _sql_text(tag)))

    def remove_tag(self, node_id: int, tag: str) -> None:
        self._write("DELETE FROM tags WHERE node_id = ? AND tag = CAST(? AS TEXT)", (node_id, _sql_text(tag)))

    def tags(self, node_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT tag FROM tags WHERE node_id = ? ORDER BY tag", (node_id,))]

    def tagged(self, tag: str) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT node_id FROM tags WHERE tag = ? ORDER BY node_id", (tag,))]

    def add_record(
        self,
        kind: str,
        node_id: int | None,
        params: dict[str, Any],
        result: dict[str, Any],
        other_id: int | None = None,
        created: float | None = None,
    ) -> int:
        """Keep a comparison, report or other analysis result with the session."""
        cur = self._write(
            "INSERT INTO records (kind, node_id, other_id, created, params, result) VALUES (?,?,?,?,?,?)",
            (
                kind,
                node_id,
                other_id,
                time.time() if created is None else created,
                json.dumps(params),
                json.dumps(result),
            ),
        )
        return _inserted_id(cur)

    def all_tags(self) -> dict[str, int]:
        """Every tag in the session with how many nodes carry it."""
        return dict(self.conn.execute("SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag").fetchall())

    def tag_pairs(self) -> list[tuple[int, str]]:
        return [tuple(r) for r in self.conn.execute("SELECT node_id, tag FROM tags ORDER BY node_id, tag")]

    def set_note(self, node_id: int, text: str) -> None:
        """A free-form note on a node; an empty text removes it."""
        if not text.strip():
            self._write("DELETE FROM notes WHERE node_id = ?", (node_id,))
        else:
            self._write(
                "INSERT OR REPLACE INTO notes (node_id, text, updated) VALUES (?, CAST(? AS TEXT), ?)",
                (node_id, _sql_text(text), time.time()),
            )

    def note(self, node_id: int) -> str | None:
        row = self.conn.execute("SELECT text FROM notes WHERE node_id = ?", (node_id,)).fetchone()
        return None if row is None else row[0]

    def notes(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT node_id, text FROM notes ORDER BY node_id").fetchall())

    def state_items(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM state ORDER BY key")}

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, kind, node_id, other_id, created, params, result FROM records"
        rows = self.conn.execute(sql + (" WHERE kind = ?" if kind else "") + " ORDER BY id", (kind,) if kind else ())
        return [
            {
                "id": r[0],
                "kind": r[1],
                "node_id": r[2],
                "other_id": r[3],
                "created": r[4],
                "params": json.loads(r[5] or "null"),
                "result": json.loads(r[6] or "null"),
            }
            for r in rows
        ]

    # -- reading -------------------------------------------------------------
    _COLS = "id, parent_id, text, author, derived_from, model, params, created, complete, tokens, meta"

    def _row(self, r: tuple[Any, ...], with_tokens: bool = True, lazy: bool = False) -> Node:
        """The node of a row; `lazy`: its tokens decoded when first read (a StoredNode)."""
        node = (StoredNode if lazy and with_tokens and r[9] else Node)(
            id=r[0],
            parent_id=r[1],
            text=r[2],
            author=r[3],
            derived_from=r[4],
            model=r[5],
            params=json.loads(r[6]) if r[6] else None,
            created=r[7],
            complete=bool(r[8]),
            meta=json.loads(r[10]) if r[10] else {},
        )
        if with_tokens and r[9]:
            if isinstance(node, StoredNode):
                node._pending = (self, r[9], node.model or "")
            else:
                node.tokens = self._tokens(r[0], r[9], node.text, node.model or "")
        return node

    def _tokens(self, node_id: int, blob: bytes, text: str, model: str) -> list[Token]:
        """A node's decoded tokens, from a bounded cache of recently read nodes:
        nodes are never rewritten, and moving through a tree reads the same
        ancestors again and again (Token and Alternative are immutable)."""
        with self._lock:
            hit = self._decoded.get(node_id)
            if hit is not None and hit[0] == blob and hit[1] == text:
                self._decoded.move_to_end(node_id)
                return list(hit[2])
        tokens = self._decode(blob, text, model)
        with self._lock:
            old = self._decoded.pop(node_id, None)
            self._decoded_count -= len(old[2]) if old else 0
            self._decoded[node_id] = (blob, text, tokens)
            self._decoded_count += len(tokens)
            while self._decoded_count > self._decoded_limit and len(self._decoded) > 1:
                _, (_, _, gone) = self._decoded.popitem(last=False)
                self._decoded_count -= len(gone)
        return list(tokens)

    def _decode(self, blob: bytes, text: str, model: str) -> list[Token]:
        flags = blob[1]
        key = ("~" if flags & codec.F_INTERNED else "") + model
        vocab = self._load_vocab(key)

        def names(ids: list[int]) -> dict[int, str]:
            missing = [i for i in ids if i not in vocab]
            for start in range(0, len(missing), 900):  # rows another process added since we loaded
                part = missing[start : start + 900]
                rows = self.conn.execute(
                    f"SELECT id, text FROM vocab WHERE model = ? AND id IN ({','.join('?' * len(part))})", (key, *part)
                ).fetchall()
                vocab.update(rows)
                if key in self._intern:
                    for i, t in rows:
                        self._intern[key].setdefault(t, i)
            return vocab

        return codec.decode(blob, text, names)

    def node(self, node_id: int) -> Node:
        row = self.conn.execute(f"SELECT {self._COLS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
        if row is None:
            raise KeyError(f"no node {node_id} in {self.path}")
        return self._row(row)

    def children(self, node_id: int | None, with_tokens: bool = False) -> list[Node]:
        where = "parent_id IS NULL" if node_id is None else "parent_id = ?"
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM nodes WHERE {where} ORDER BY id", () if node_id is None else (node_id,)
        ).fetchall()
        return [self._row(r, with_tokens) for r in rows]

    def roots(self) -> list[Node]:
        return self.children(None)

    def child_ids(self, node_id: int | None) -> list[int]:
        where = "parent_id IS NULL" if node_id is None else "parent_id = ?"
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM nodes WHERE {where} ORDER BY id", () if node_id is None else (node_id,)
            )
        ]

    def child_counts(self, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        out = dict.fromkeys(ids, 0)
        for chunk in range(0, len(ids), 900):
            part = ids[chunk : chunk + 900]
            q = f"SELECT parent_id, count(*) FROM nodes WHERE parent_id IN ({','.join('?' * len(part))}) GROUP BY parent_id"
            out.update(dict(self.conn.execute(q, part).fetchall()))
        return out

    def summaries(self, node_id: int | None, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Children of a node for listing: id, preview, author, mean probability, child count.
        `offset` and `limit` pick a window of them (in id order)."""
        where = "parent_id IS NULL" if node_id is None else "parent_id = ?"
        rows = self.conn.execute(
            f"SELECT id, substr(CAST(text AS BLOB), 1, 800), author, mean_prob, complete, derived_from,"
            f" (SELECT count(*) FROM nodes c WHERE c.parent_id = n.id) FROM nodes n WHERE {where} ORDER BY id"
            " LIMIT ? OFFSET ?",
            (*(() if node_id is None else (node_id,)), -1 if limit is None else limit, offset),
        ).fetchall()
        return [
            {
                "id": r[0],
                "preview": _preview(r[1], 200),
                "author": r[2],
                "mean_prob": r[3],
                "complete": bool(r[4]),
                "derived_from": r[5],
                "children": r[6],
            }
            for r in rows
        ]

    def parent_id(self, node_id: int) -> int | None:
        row = self.conn.execute("SELECT parent_id FROM nodes WHERE id = ?", (node_id,)).fetchone()
        if row is None:
            raise KeyError(f"no node {node_id} in {self.path}")
        parent: int | None = row[0]
        return parent

    def ancestry(self, node_id: int) -> list[int]:
        """Ids from the root down to `node_id`, in one recursive query."""
        rows = self.conn.execute(
            "WITH RECURSIVE up(id, parent_id, depth) AS ("
            " SELECT id, parent_id, 0 FROM nodes WHERE id = ?"
            " UNION ALL SELECT n.id, n.parent_id, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent_id)"
            " SELECT id FROM up ORDER BY depth DESC",
            (node_id,),
        ).fetchall()
        if not rows:
            raise KeyError(f"no node {node_id} in {self.path}")
        return [r[0] for r in rows]

    def path_nodes(self, node_id: int) -> list[Node]:
        """The nodes from the root down to `node_id`. The nodes it shares with the
        last path read are that path's Node objects (nodes are never rewritten), so
        a move to a parent, child or sibling reads one row, not the whole path.
        Each node's tokens are decoded when first read (StoredNode)."""
        with self._lock:
            last_ids, last = self._last_path
        ids = self._ancestry_near(node_id, last_ids, last)
        missing = [i for i in ids if i not in last]
        by_id = {i: last[i][1] for i in ids if i in last}
        rows = []
        for start in range(0, len(missing), 900):
            part = missing[start : start + 900]
            q = f"SELECT {self._COLS} FROM nodes WHERE id IN ({','.join('?' * len(part))})"
            rows += self.conn.execute(q, part).fetchall()
        # a cache smaller than the path evicts its own first nodes while reading it,
        # and every move along a long path would decode it all again: room for the
        # path (read from the blobs' headers) and as much again for its neighbours
        n = sum(codec.token_count(r[9]) for r in rows if r[9]) + sum(x.token_count() for x in by_id.values())
        if 2 * n > self._decoded_limit:
            with self._lock:
                self._decoded_limit = 2 * n
        by_id.update((r[0], self._row(r, lazy=True)) for r in rows)  # decoded when read
        path = [by_id[i] for i in ids]
        with self._lock:
            self._last_path = (ids, {x.id: (depth, x) for depth, x in enumerate(path)})
        return path

    def _ancestry_near(
        self, node_id: int, last_ids: list[int], last: dict[int, tuple[int, Node]], steps: int = 32
    ) -> list[int]:
        """ancestry(), walking up at most `steps` parents to meet the last path read
        (a move lands next to it); elsewhere the one recursive query."""
        if last:
            up: list[int] = []
            at: int | None = node_id
            while at is not None and at not in last and len(up) < steps:
                up.append(at)
                at = self.parent_id(at)
            if at is not None and at in last:
                return last_ids[: last[at][0] + 1] + up[::-1]
            if at is None:  # reached a root
                return up[::-1]
        return self.ancestry(node_id)

    def path_ids(self, node_id: int) -> list[tuple[int, str, str | None, tuple[int, ...] | None]]:
        """The path from the root to `node_id` as (id, text, model, ids) for each node:
        the ids of its chosen tokens, None where it has no tokens or the ids are
        not the model's. A context needs no more, and reading only the ids is many
        times quicker than decoding every token of a long path."""
        ids = self.ancestry(node_id)
        q = f"SELECT id, text, model, tokens FROM nodes WHERE id IN ({','.join('?' * len(ids))})"
        by_id = {r[0]: r for r in self.conn.execute(q, ids).fetchall()}
        out = []
        with self._lock:
            for i in ids:
                _, text, model, blob = by_id[i]
                hit = self._chosen.get(i)
                if hit is not None and hit[0] == blob:
                    chosen = hit[1]
                    self._chosen.move_to_end(i)
                else:
                    chosen = codec.chosen_ids(blob) if blob else None
                    self._chosen[i] = (blob, chosen)
                out.append((i, text, model, chosen))
            while len(self._chosen) > max(4096, 2 * len(ids)):  # room for the path and its neighbours
                self._chosen.popitem(last=False)
        return out

    def path_text(self, node_id: int) -> str:
        return "".join(n.text for n in self.path_nodes(node_id))

    def count(self) -> int:
        n: int = self.conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
        return n

    def all_ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM nodes ORDER BY id")]

    def max_alternatives(self, node_id: int | None = None) -> int:
        """The most alternatives any token has, in the subtree under `node_id` (None: the whole
        session), read from the token blobs' headers: nothing is decoded."""
        below = (
            ""
            if node_id is None
            else (
                " AND id IN (WITH RECURSIVE down(id) AS (SELECT ? UNION ALL SELECT n.id FROM nodes n"
                " JOIN down ON n.parent_id = down.id) SELECT id FROM down)"
            )
        )
        rows = self.conn.execute(
            f"SELECT substr(tokens, {codec.K_OFFSET + 1}, 1) FROM nodes WHERE tokens IS NOT NULL" + below,
            () if node_id is None else (node_id,),
        )
        return max((head[0] for (head,) in rows if head), default=0)

    def subtree_ids(self, node_id: int) -> list[int]:
        rows = self.conn.execute(
            "WITH RECURSIVE down(id) AS (SELECT ? UNION ALL SELECT n.id FROM nodes n JOIN down ON n.parent_id = down.id)"
            " SELECT id FROM down ORDER BY id",
            (node_id,),
        )
        return [r[0] for r in rows]

    def search(self, query: str, limit: int = 100) -> list[dict[str, Any]]:
        """Nodes whose text holds `query` literally (any characters, any letter
        case; its whitespace matches any run of whitespace), in id order:
        {id, text, start, end} with the first match's span.
        A scan, not a word index: it finds any piece of text a user can see,
        glued to an escape sequence or an emoji, part of a word, with the
        user's own spacing. An ASCII query is narrowed in SQL first."""
        # whitespace in the query matches any run of whitespace (a line break too)
        parts = re.split(r"\s+", query)
        pattern = re.compile(r"\s+".join(map(re.escape, parts)), re.IGNORECASE)
        longest = max(parts, key=len)
        if longest and longest.isascii():  # SQLite's lower() folds ASCII only: enough to narrow, the regex decides
            rows = self.conn.execute(
                "SELECT id, text FROM nodes WHERE instr(lower(text), ?) ORDER BY id", (longest.lower(),)
            )
        else:
            rows = self.conn.execute("SELECT id, text FROM nodes ORDER BY id")
        hits: list[dict[str, Any]] = []
        for node_id, text in rows:
            m = pattern.search(text)
            if m:
                hits.append({"id": node_id, "text": text, "start": m.start(), "end": m.end()})
                if len(hits) >= limit:
                    break
        rows.close()
        return hits

    @property
    def current(self) -> int | None:
        cur = self.get_state("current")
        if isinstance(cur, int):
            try:
                self.parent_id(cur)
                return cur
            except KeyError:
                pass
        roots = self.child_ids(None)
        return roots[0] if roots else None

    @current.setter
    def current(self, node_id: int) -> None:
        self.set_state("current", node_id)

    def data_version(self) -> int | None:
        """SQLite's PRAGMA data_version on this session's connection: it changes when
        another connection (another process) commits to the file, not on this one's
        own writes. None when another thread holds the session (ask again later)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            version: int = self.conn.execute("PRAGMA data_version").fetchone()[0]
            return version
        finally:
            self._lock.release()


class _Batch:
    """Session.batched()'s state: its limits, and its open transaction."""

    def __init__(self, nodes: int, seconds: float):
        self.nodes, self.seconds = max(1, nodes), seconds
        self.open = False
        self.pending = 0
        self.timer: threading.Timer | None = None
        self.error: StoreError | None = None  # a commit that failed (on the timer): raised at the next write


def default_sessions_dir() -> Path:
    """LOOM_SESSIONS_DIR, else `sessions/` of a source checkout, else the user data folder."""
    env = os.environ.get("LOOM_SESSIONS_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "sessions"
    if checkout.is_dir():
        return checkout
    from platformdirs import user_data_path

    return user_data_path("loom") / "sessions"


def resolve_session(name_or_path: str, sessions_dir: Path) -> Path:
    """A name means `<sessions_dir>/<name>.loom`; anything with a slash or suffix is a path."""
    p = Path(name_or_path).expanduser()
    if p.suffix or os.sep in name_or_path or p.exists():
        return p
    return sessions_dir / f"{name_or_path}{SUFFIX}"


def list_sessions(sessions_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(sessions_dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True):
        info: dict[str, Any] = {
            "name": path.name.removesuffix(SUFFIX),
            "path": str(path),
            "modified": path.stat().st_mtime,
            "nodes": None,
            "error": None,
        }
        try:
            _check_file(path)
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            conn.text_factory = _text_factory
            try:
                info["nodes"] = conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
                row = conn.execute(
                    "SELECT substr(text, 1, 60) FROM nodes WHERE parent_id IS NULL ORDER BY id LIMIT 1"
                ).fetchone()
                info["prompt"] = row[0] if row else ""
            finally:
                conn.close()
        except (StoreError, sqlite3.DatabaseError) as exc:
            info["error"] = str(exc)
        out.append(info)
    return out
