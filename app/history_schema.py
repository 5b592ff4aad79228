"""The history's schema: versioned migrations, applied under a write lock so concurrent first starts agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.history_file import HistoryUnavailable

if TYPE_CHECKING:
    import sqlite_utils


def _v1_runs(db: sqlite_utils.Database) -> None:
    # The first release: runs and their time series.
    db.execute("""CREATE TABLE runs (
        id TEXT PRIMARY KEY, engine TEXT NOT NULL, kind TEXT, op TEXT, model_id TEXT, model_hash TEXT,
        device TEXT, params TEXT, status TEXT NOT NULL, error TEXT, started_at REAL NOT NULL,
        ended_at REAL, metrics TEXT)""")
    db.execute("CREATE TABLE samples (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, "
               "series TEXT NOT NULL, t REAL NOT NULL, value REAL NOT NULL)")
    db.execute("CREATE INDEX samples_run ON samples(run_id, series)")


def _v2_run_details_and_chat(db: sqlite_utils.Database) -> None:
    for column, kind in (("model_path", "TEXT"), ("result", "TEXT"), ("host_pid", "INTEGER"),
                         ("worker_pid", "INTEGER"), ("compare_id", "TEXT"), ("tags", "TEXT")):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    db.execute("CREATE INDEX runs_engine_started ON runs(engine, started_at)")
    db.execute("""CREATE TABLE conversations (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        model_id TEXT, system_prompt TEXT, active_leaf_id TEXT, settings TEXT, meta TEXT)""")
    db.execute("""CREATE TABLE messages (
        id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id TEXT, role TEXT NOT NULL, content TEXT NOT NULL, model_id TEXT, params TEXT, stats TEXT,
        run_id TEXT, created_at REAL NOT NULL, meta TEXT)""")
    db.execute("CREATE INDEX messages_conversation ON messages(conversation_id, created_at)")


def _v3_models(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE models (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, format TEXT NOT NULL, path TEXT NOT NULL,
        size_bytes INTEGER, sha256 TEXT, quant TEXT, source TEXT NOT NULL, repo TEXT, filename TEXT,
        revision TEXT, added_at REAL NOT NULL, last_used_at REAL, meta TEXT)""")
    db.execute("CREATE UNIQUE INDEX models_path ON models(path)")


def _v4_comparisons(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE compare_sessions (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, ended_at REAL, workload TEXT NOT NULL,
        settings TEXT, machine TEXT, status TEXT NOT NULL, source TEXT, meta TEXT)""")
    db.execute("""CREATE TABLE compare_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES compare_sessions(id) ON DELETE CASCADE,
        run_id TEXT, workload TEXT NOT NULL, device TEXT, backend TEXT, precision TEXT, variant TEXT,
        metrics TEXT, flags TEXT, samples TEXT)""")


def _v5_host_start_time(db: sqlite_utils.Database) -> None:
    # A PID alone cannot tell the app that started a run from a later process that reused its PID.
    db.execute("ALTER TABLE runs ADD COLUMN host_started REAL")


# Append-only: a released migration is never edited; the list index + 1 is the schema version.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _v1_runs,
    _v2_run_details_and_chat,
    _v3_models,
    _v4_comparisons,
    _v5_host_start_time,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(HistoryUnavailable):
    """The database was written by a newer workbench."""


def schema_version(db: sqlite_utils.Database) -> int:
    """The version stored in the file."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, path: Path) -> None:
    """Bring the file to the current schema in one transaction.

    ``BEGIN IMMEDIATE`` takes the write lock before the version is read, so of several processes that
    start at once on a new file one migrates and the others wait, then find the work done.
    """
    if _checked_version(db, path) == SCHEMA_VERSION:
        return  # the usual case: no write lock taken at start
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _checked_version(db, path)  # re-read inside the lock: another process may have won
        for version in range(current, SCHEMA_VERSION):
            MIGRATIONS[version](db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _checked_version(db: sqlite_utils.Database, path: Path) -> int:
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        # Migrations so far only add tables and columns, so reading may still work; writing may not.
        raise SchemaTooNew(f"{path} has schema {current}; this workbench knows up to {SCHEMA_VERSION}: "
                           "update the workbench", path=path, readable=True)
    return current
