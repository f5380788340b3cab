"""The session database's schema and its migrations (PRAGMA user_version)."""

from __future__ import annotations

SCHEMA_VERSION = 3

# Each entry upgrades from version i to i+1; index 0 creates a new database.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES nodes(id),
        text TEXT NOT NULL,
        author TEXT NOT NULL,
        derived_from INTEGER REFERENCES nodes(id),
        model TEXT,
        params TEXT,
        sampler TEXT,
        created REAL NOT NULL,
        complete INTEGER NOT NULL DEFAULT 1,
        n_tokens INTEGER NOT NULL DEFAULT 0,
        mean_prob REAL,
        tokens BLOB,
        meta TEXT
    );
    CREATE INDEX nodes_parent ON nodes(parent_id);
    CREATE TABLE vocab (
        model TEXT NOT NULL,
        id INTEGER NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (model, id)
    ) WITHOUT ROWID;
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE tags (node_id INTEGER NOT NULL REFERENCES nodes(id), tag TEXT NOT NULL, PRIMARY KEY (node_id, tag)) WITHOUT ROWID;
    CREATE INDEX tags_tag ON tags(tag);
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        node_id INTEGER,
        other_id INTEGER,
        created REAL NOT NULL,
        params TEXT,
        result TEXT
    );
    CREATE VIRTUAL TABLE nodes_fts USING fts5(text, content='nodes', content_rowid='id');
    CREATE TRIGGER nodes_ai AFTER INSERT ON nodes BEGIN
        INSERT INTO nodes_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER nodes_ad AFTER DELETE ON nodes BEGIN
        INSERT INTO nodes_fts(nodes_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    """,
    # 1 -> 2: free-form notes on nodes (one per node; nodes themselves are never rewritten).
    """
    CREATE TABLE notes (
        node_id INTEGER PRIMARY KEY REFERENCES nodes(id),
        text TEXT NOT NULL,
        updated REAL NOT NULL
    );
    """,
    # 2 -> 3: search scans the text itself (any substring, any character), so the
    # word index is gone: it missed words glued to escapes and cost space per token.
    """
    DROP TRIGGER IF EXISTS nodes_ai;
    DROP TRIGGER IF EXISTS nodes_ad;
    DROP TABLE IF EXISTS nodes_fts;
    """,
]
