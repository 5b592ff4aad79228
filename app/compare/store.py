"""Comparisons in the history database: the ``compare_sessions`` and ``compare_results`` tables."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from app.compare.results import CompareSession, Flag, ResultRow
from app.history import History


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _loads(value: str | None, default: Any) -> Any:
    return default if value is None else json.loads(value)


class CompareStore:
    """Reads and writes comparisons through the history's connection and lock."""

    def __init__(self, history: History) -> None:
        self.history = history

    # --- sessions ---------------------------------------------------------------------------------
    def create_session(self, workload: str, settings: Mapping[str, Any], machine: Mapping[str, Any], *,
                       source: str = "local", meta: Mapping[str, Any] | None = None,
                       status: str = "running", created_at: float | None = None,
                       session_id: str | None = None) -> str:
        """Write a session row; returns its id."""
        new_id = session_id or uuid.uuid4().hex
        with self.history.lock, self.history.db.conn:
            self.history.db.table("compare_sessions").insert({
                "id": new_id, "created_at": created_at if created_at is not None else time.time(),
                "ended_at": None, "workload": workload, "settings": _dumps(dict(settings)),
                "machine": _dumps(dict(machine)), "status": status, "source": source,
                "meta": _dumps(dict(meta or {})),
            })
        return new_id

    def finish_session(self, session_id: str, status: str, meta: Mapping[str, Any] | None = None,
                       ended_at: float | None = None) -> None:
        """Record how a session ended (and its final meta)."""
        update: dict[str, Any] = {"status": status, "ended_at": ended_at if ended_at is not None else time.time()}
        if meta is not None:
            update["meta"] = _dumps(dict(meta))
        with self.history.lock, self.history.db.conn:
            self.history.db.table("compare_sessions").update(session_id, update)

    def update_meta(self, session_id: str, meta: Mapping[str, Any]) -> None:
        """Replace a session's meta."""
        with self.history.lock, self.history.db.conn:
            self.history.db.table("compare_sessions").update(session_id, {"meta": _dumps(dict(meta))})

    def sessions(self, limit: int | None = None) -> list[CompareSession]:
        """Sessions newest first, without their rows."""
        sql = "SELECT * FROM compare_sessions ORDER BY created_at DESC, rowid DESC"
        args: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self.history.lock:
            rows = list(self.history.db.query(sql, args))
        return [session_from_row(row) for row in rows]

    def session(self, session_id: str) -> CompareSession:
        """One session with its rows; KeyError when unknown (a unique id prefix is accepted)."""
        with self.history.lock:
            rows = list(self.history.db.query("SELECT * FROM compare_sessions WHERE id = ?", [session_id]))
            if not rows:
                rows = list(self.history.db.query("SELECT * FROM compare_sessions WHERE id LIKE ?",
                                                  [session_id + "%"]))
        if len(rows) != 1:
            raise KeyError(session_id)
        session = session_from_row(rows[0])
        session.results = self.results(session.id)
        return session

    def delete_session(self, session_id: str) -> None:
        """Remove a session and its rows (the recorded runs stay in the history)."""
        with self.history.lock, self.history.db.conn:
            self.history.db.execute("DELETE FROM compare_results WHERE session_id = ?", [session_id])
            self.history.db.execute("DELETE FROM compare_sessions WHERE id = ?", [session_id])

    # --- results ----------------------------------------------------------------------------------
    def add_result(self, session_id: str, row: ResultRow) -> int:
        """Store one row; sets and returns its id."""
        with self.history.lock, self.history.db.conn:
            table = self.history.db.table("compare_results")
            table.insert({
                "session_id": session_id, "run_id": row.run_id, "workload": row.workload, "device": row.device,
                "backend": row.backend, "precision": row.precision, "variant": row.variant,
                "metrics": _dumps(row.metrics), "flags": _dumps([f.to_dict() for f in row.flags]),
                "samples": _dumps(row.samples),
            })
            row.id = int(table.last_rowid or 0)
        row.session_id = session_id
        return row.id

    def set_flags(self, row: ResultRow) -> None:
        """Write a stored row's flags again (after the cross-row checks)."""
        if row.id is None:
            raise ValueError("the row is not stored yet")
        with self.history.lock, self.history.db.conn:
            self.history.db.table("compare_results").update(
                row.id, {"flags": _dumps([f.to_dict() for f in row.flags])})

    def results(self, session_id: str) -> list[ResultRow]:
        """A session's rows in the order they were measured."""
        with self.history.lock:
            rows = list(self.history.db.query(
                "SELECT * FROM compare_results WHERE session_id = ? ORDER BY id", [session_id]))
        return [result_from_row(stored) for stored in rows]

    def save_imported(self, session: CompareSession, source: str) -> CompareSession:
        """Store a session read from an export under a new id, marked with where it came from."""
        meta = {**session.meta, "original_id": session.id}
        new_id = self.create_session(session.workload, session.settings, session.machine, source=source,
                                     meta=meta, status=session.status, created_at=session.created_at)
        self.finish_session(new_id, session.status, ended_at=session.ended_at or session.created_at)
        for row in session.results:
            copy = ResultRow.from_dict(row.to_dict())
            copy.run_id = None  # the runs it points to live in the other machine's history
            self.add_result(new_id, copy)
        return self.session(new_id)


def session_from_row(row: Mapping[str, Any]) -> CompareSession:
    """A ``compare_sessions`` row as a session (without its results)."""
    return CompareSession(
        id=row["id"], created_at=row["created_at"], ended_at=row["ended_at"], workload=row["workload"],
        settings=_loads(row["settings"], {}), machine=_loads(row["machine"], {}), status=row["status"],
        source=row["source"] or "local", meta=_loads(row["meta"], {}),
    )


def result_from_row(stored: Mapping[str, Any]) -> ResultRow:
    """A ``compare_results`` row as a result."""
    return ResultRow(
        workload=stored["workload"], device=stored["device"] or "", backend=stored["backend"] or "",
        precision=stored["precision"] or "", variant=stored["variant"] or "",
        metrics=_loads(stored["metrics"], {}), flags=[Flag.from_dict(f) for f in _loads(stored["flags"], [])],
        samples=_loads(stored["samples"], {}), run_id=stored["run_id"], id=stored["id"],
        session_id=stored["session_id"],
    )
