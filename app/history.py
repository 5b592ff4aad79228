"""The run history: one SQLite file (WAL) with versioned migrations, shared by every part of the app."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import paths


def _import_sqlite_utils() -> Any:
    # sqlite-utils imports pandas when it is installed, only to convert pandas values we never store;
    # that costs ~1-2 s at every start of the app and the CLI. Hide pandas from that one import.
    if "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]
    return sqlite_utils


if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = _import_sqlite_utils()

RUN_STATUSES = ("running", "ok", "cancelled", "failed", "crashed")


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


# Append-only: a released migration is never edited; the list index + 1 is the schema version.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _v1_runs,
    _v2_run_details_and_chat,
    _v3_models,
    _v4_comparisons,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer workbench."""


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class History:
    """Runs, samples, conversations, the model registry and comparisons, in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.database_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.migrate()
        self._mark_orphans()

    @property
    def lock(self) -> threading.RLock:
        """Hold this around direct use of ``db`` from several threads."""
        return self._lock

    @property
    def schema_version(self) -> int:
        """The version stored in the file."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Bring the file to the current schema, one migration per transaction."""
        with self._lock:
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(f"{self.path} has schema {current}; this workbench knows up to "
                                   f"{SCHEMA_VERSION}: update the workbench")
            for version in range(current, SCHEMA_VERSION):
                with self.db.conn:
                    MIGRATIONS[version](self.db)
                    self.db.execute(f"PRAGMA user_version = {version + 1}")

    def _mark_orphans(self) -> None:
        # A run still "running" whose app process is gone was cut short by a crash of the app itself.
        with self._lock, self.db.conn:
            rows = self.db.execute("SELECT id, host_pid FROM runs WHERE status = 'running'").fetchall()
            for run_id, host_pid in rows:
                if not _pid_alive(host_pid):
                    self.db.execute("UPDATE runs SET status='crashed', error=COALESCE(error, ?), "
                                    "ended_at=COALESCE(ended_at, started_at) WHERE id=?",
                                    ("the workbench stopped before the run ended", run_id))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.db.conn.close()

    # --- runs -------------------------------------------------------------------------------------
    def start_run(self, *, engine: str, op: str, kind: str | None = None, model_id: str | None = None,
                  model_hash: str | None = None, model_path: str | None = None, device: str | None = None,
                  params: Mapping[str, Any] | None = None, worker_pid: int | None = None,
                  compare_id: str | None = None, tags: Sequence[str] = ()) -> str:
        """Write the row of a run that is starting; returns its id."""
        run_id = uuid.uuid4().hex
        with self._lock, self.db.conn:
            self.db.table("runs").insert({
                "id": run_id, "engine": engine, "kind": kind, "op": op, "model_id": model_id,
                "model_hash": model_hash, "model_path": model_path, "device": device,
                "params": _dumps(dict(params or {})), "status": "running", "started_at": time.time(),
                "host_pid": os.getpid(), "worker_pid": worker_pid, "compare_id": compare_id,
                "tags": _dumps(list(tags)),
            })
        return run_id

    def finish_run(self, run_id: str, status: str, *, metrics: Mapping[str, Any] | None = None,
                   error: str | None = None, result: Mapping[str, Any] | None = None) -> None:
        """Record how a run ended."""
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"bad final status {status!r}")
        with self._lock, self.db.conn:
            self.db.table("runs").update(run_id, {
                "status": status, "ended_at": time.time(), "metrics": _dumps(dict(metrics or {})),
                "error": error, "result": _dumps(result),
            })

    def add_samples(self, run_id: str, rows: Iterable[tuple[str, float, float]]) -> int:
        """Store (series, t, value) points of a run; returns how many."""
        batch = [{"run_id": run_id, "series": s, "t": float(t), "value": float(v)} for s, t, v in rows]
        if batch:
            with self._lock, self.db.conn:
                self.db.table("samples").insert_all(batch, batch_size=1000)
        return len(batch)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run with its JSON fields decoded; KeyError when unknown."""
        with self._lock:
            rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise KeyError(run_id)
        return self._decode(rows[0])

    def runs(self, *, engine: str | None = None, status: str | None = None, limit: int | None = None,
             compare_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded runs, newest first."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("engine", engine), ("status", status), ("compare_id", compare_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock:
            return [self._decode(row) for row in self.db.query(sql, args)]

    def samples(self, run_id: str, series: str | None = None) -> dict[str, list[tuple[float, float]]]:
        """A run's time series: name -> [(t, value)] in time order."""
        sql = "SELECT series, t, value FROM samples WHERE run_id = ?"
        args: list[Any] = [run_id]
        if series is not None:
            sql += " AND series = ?"
            args.append(series)
        out: dict[str, list[tuple[float, float]]] = {}
        with self._lock:
            for row in self.db.execute(sql + " ORDER BY rowid", args).fetchall():
                out.setdefault(row[0], []).append((row[1], row[2]))
        return out

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its samples."""
        with self._lock, self.db.conn:
            self.db.execute("DELETE FROM samples WHERE run_id = ?", [run_id])
            self.db.execute("DELETE FROM runs WHERE id = ?", [run_id])

    @staticmethod
    def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key in ("params", "metrics", "result", "tags"):
            if key in out:
                out[key] = _loads(out[key])
        return out
