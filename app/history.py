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

from app import history_file, history_schema, process_identity
from app.history_file import HistoryUnavailable
from app.history_schema import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew
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
__all__ = ["MIGRATIONS", "RUN_STATUSES", "SCHEMA_VERSION", "History", "HistoryUnavailable", "SchemaTooNew",
           "print_notice"]


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def print_notice(message: str) -> None:
    """Print a notice about the history on stderr (stdout stays a command's result)."""
    sys.stderr.write(f"workbench: {message}\n")


class History:
    """Runs, samples, conversations, the model registry and comparisons, in one SQLite file.

    Opening checks the file (``PRAGMA quick_check``), moves a damaged one aside and starts a new one
    (saying so through ``on_notice``, stderr by default), and migrates under a write lock. A file that
    cannot be written raises :class:`HistoryUnavailable`; ``read_only=True`` opens a file only to read
    it, and ``History.in_memory(reason)`` is a history that keeps nothing (``unrecorded`` says why).
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 on_notice: Callable[[str], None] | None = None) -> None:
        # An unusable data folder (WORKBENCH_HOME names a file) raises core.paths.DataFolderError here.
        self.path = Path(path) if path is not None else paths.database_path()
        self.read_only = read_only
        self.unrecorded: str | None = None
        self._lock = threading.RLock()
        notify = on_notice or print_notice
        if read_only:
            conn = self._open_read_only()
        elif str(self.path) == ":memory:":
            conn = history_file.connect(self.path)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryUnavailable(history_file.describe_failure(self.path, exc), path=self.path) from exc
            conn = history_file.open_checked(self.path, notify)
        self.db = sqlite_utils.Database(conn)
        if read_only:
            return
        try:
            self.migrate()
            self._mark_orphans()
        except sqlite3.Error as exc:
            conn.close()
            raise HistoryUnavailable(history_file.describe_failure(self.path, exc), path=self.path,
                                     readable=self.path.is_file()) from exc
        except BaseException:
            conn.close()
            raise

    @classmethod
    def in_memory(cls, reason: str) -> History:
        """A working history that is lost at exit, for runs that cannot be recorded (``reason`` says why)."""
        history = cls(":memory:")
        history.unrecorded = reason
        return history

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise HistoryUnavailable(f"there is no history at {self.path}", path=self.path)
        try:
            conn = history_file.connect(self.path, read_only=True)
        except sqlite3.Error as exc:
            raise HistoryUnavailable(history_file.describe_failure(self.path, exc), path=self.path) from exc
        try:
            history_file.check_header(self.path)
            history_file.quick_check(conn, full=history_file.needs_full_check(self.path))
        except (history_file.DamagedDatabase, sqlite3.Error) as exc:
            conn.close()
            raise HistoryUnavailable(f"the history {self.path} is damaged ({exc}) and read-only here, so it "
                                     "cannot be replaced", path=self.path) from exc
        return conn

    @property
    def lock(self) -> threading.RLock:
        """Hold this around direct use of ``db`` from several threads."""
        return self._lock

    @property
    def schema_version(self) -> int:
        """The version stored in the file."""
        with self._lock:
            return history_schema.schema_version(self.db)

    def migrate(self) -> None:
        """Bring the file to the current schema (under SQLite's write lock; see ``history_schema``)."""
        with self._lock:
            history_schema.migrate(self.db, self.path)

    def _mark_orphans(self) -> None:
        # A run still "running" whose app process is gone (or whose PID now belongs to another process)
        # was cut short by a crash of the app itself.
        with self._lock:
            rows = self.db.execute("SELECT id, host_pid, host_started FROM runs WHERE status = 'running'"
                                   ).fetchall()
            orphans = [run_id for run_id, pid, started in rows if not process_identity.is_running(pid, started)]
            if not orphans:
                return
            with self.db.conn:
                for run_id in orphans:
                    self.db.execute("UPDATE runs SET status='crashed', error=COALESCE(error, ?), "
                                    "ended_at=COALESCE(ended_at, started_at) WHERE id=? AND status='running'",
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
                "host_pid": os.getpid(), "host_started": process_identity.start_time(os.getpid()),
                "worker_pid": worker_pid, "compare_id": compare_id, "tags": _dumps(list(tags)),
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

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run whose id is or starts with ``prefix`` (as ``history`` prints it).

        KeyError with a message when no run or several runs match.
        """
        prefix = prefix.strip()
        if not prefix:
            raise KeyError("no run id given")
        with self._lock:
            # A range on the primary key finds the prefix through its index (LIKE would scan).
            found = [row[0] for row in self.db.execute(
                "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                [prefix, prefix + "\U0010ffff"]).fetchall()]
        if prefix in found:
            return prefix
        if not found:
            raise KeyError(f"no run {prefix!r}")
        if len(found) > 1:
            shown = ", ".join(run_id[:12] for run_id in found[:5])
            raise KeyError(f"{prefix!r} matches several runs ({shown}{', ...' if len(found) > 5 else ''}): "
                           "give more characters")
        return str(found[0])

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
