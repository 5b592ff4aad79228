"""The local model registry: the ``models`` table of the shared SQLite history, plus the starter models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.models.errors import ModelError, Reason
from app.models.records import ModelRecord, slugify
from app.models.starters import starter_records
from app.starter_models import STARTER_MODELS

if TYPE_CHECKING:
    from app.history import History

_COLUMNS = ("id", "kind", "format", "path", "size_bytes", "sha256", "quant", "source", "repo", "filename",
            "revision", "added_at", "last_used_at", "meta")


class Registry:
    """Registered models, stored in ``History().db["models"]``; every call holds the history lock."""

    def __init__(self, history: History | None = None) -> None:
        if history is None:
            from app.history import History

            history = History()
            self._owns_history = True
        else:
            self._owns_history = False
        self.history = history

    def close(self) -> None:
        """Close the history if this registry opened it."""
        if self._owns_history:
            self.history.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _db(self) -> Iterator[Any]:
        with self.history.lock:
            yield self.history.db

    @contextmanager
    def _write(self) -> Iterator[Any]:
        # BEGIN IMMEDIATE takes SQLite's write lock before the first read, so a look-then-write cannot
        # interleave with another process's (the connection's 30 s busy timeout covers the wait).
        with self.history.lock:
            db = self.history.db
            conn = db.conn
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # --- reading ----------------------------------------------------------------------------------
    def get(self, model_id: str) -> ModelRecord | None:
        """The registered model (or installed starter model) with this id, case-insensitively."""
        with self._db() as db:
            rows = list(db.query("SELECT * FROM models WHERE lower(id) = lower(?)", [model_id]))
        if rows:
            return _from_row(rows[0])
        return next((r for r in starter_records() if r.id.lower() == model_id.lower()), None)

    def find_by_path(self, path: str | Path) -> ModelRecord | None:
        """The registered model whose file is ``path``."""
        with self._db() as db:
            rows = list(db.query("SELECT * FROM models WHERE path = ?", [_norm(path)]))
        return _from_row(rows[0]) if rows else None

    def list(self, kind: str | None = None, *, include_starters: bool = True) -> list[ModelRecord]:
        """Starter models first, then registered models: most recently used first, then by id."""
        sql = "SELECT * FROM models"
        args: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        sql += " ORDER BY last_used_at IS NULL, last_used_at DESC, id"
        with self._db() as db:
            rows = [_from_row(row) for row in db.query(sql, args)]
        starters = [r for r in starter_records() if kind in (None, r.kind)] if include_starters else []
        return starters + rows

    # --- writing ----------------------------------------------------------------------------------
    def add(self, record: ModelRecord, *, refresh: bool = True) -> tuple[ModelRecord, bool]:
        """Register ``record`` (its id is only a wish); returns (stored record, True if new).

        A file registered before keeps its id and added date; its other facts are replaced by the new ones
        when ``refresh`` (an import, a pull) and left alone otherwise (a scan finding it again). The look-up
        and the write are one write transaction and the write is an upsert on the path, so two processes
        registering the same file at once end with one row and no error.
        """
        path = _norm(record.path)
        with self._write() as db:
            existing = list(db.query("SELECT * FROM models WHERE path = ?", [path]))
            if existing:
                old = _from_row(existing[0])
                if not refresh:
                    return old, False
                row = _to_row(record) | {"id": old.id, "path": path, "added_at": old.added_at,
                                         "last_used_at": old.last_used_at}
                created = False
            else:
                row = _to_row(record) | {"id": self._free_id(db, record.id), "path": path,
                                         "added_at": record.added_at or time.time()}
                created = True
            _upsert(db, row)
        return _from_row(row), created

    def mark_damaged(self, path: str | Path, problem: str | None) -> ModelRecord | None:
        """Note (or, with None, clear) that the registered file at ``path`` failed its check; returns it."""
        with self._write() as db:
            rows = list(db.query("SELECT * FROM models WHERE path = ?", [_norm(path)]))
            if not rows:
                return None
            record = _from_row(rows[0])
            meta = {k: v for k, v in record.meta.items() if k != "damaged"}
            if problem:
                meta["damaged"] = problem
            db.execute("UPDATE models SET meta = ? WHERE id = ?", [json.dumps(meta, default=str), record.id])
        return replace(record, meta=meta)

    def remove(self, model_id: str) -> ModelRecord:
        """Unregister a model (its files are the caller's business); returns what was removed."""
        record = self.get(model_id)
        if record is None:
            raise ModelError(Reason.NOT_FOUND, f"no registered model {model_id!r} (see: workbench models list)")
        if record.source == "package":
            raise ModelError(Reason.BAD_INPUT, f"{record.id!r} is a starter model shipped in the "
                                               f"{record.repo} package: pip uninstall {record.repo}")
        with self._db() as db, db.conn:
            db.execute("DELETE FROM models WHERE id = ?", [record.id])
        return record

    def touch(self, model_id: str) -> None:
        """Remember that the model was just used."""
        with self._db() as db, db.conn:
            db.execute("UPDATE models SET last_used_at = ? WHERE lower(id) = lower(?)", [time.time(), model_id])

    def _free_id(self, db: Any, wanted: str) -> str:
        base = slugify(wanted)
        taken = {m.id for m in STARTER_MODELS}
        taken.update(row[0] for row in db.execute(
            "SELECT id FROM models WHERE id = ? OR id LIKE ?", [base, base + "-%"]).fetchall())
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"


def lookup_path(ref: str, kind: str | None = None) -> Path | None:
    """The file of registered model ``ref`` (of ``kind`` if given), marking it used; None if not registered.

    Called by :func:`app.model_refs.resolve_model_ref` when a user names a model by id.
    """
    with Registry() as registry:
        record = registry.get(ref)
        if record is None or record.source == "package" or (kind is not None and record.kind != kind):
            return None
        registry.touch(record.id)
        return Path(record.path)


def _upsert(db: Any, row: dict[str, Any]) -> None:
    columns = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    # The id, the added date and the last use stay those of the first registration of the path.
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("id", "path", "added_at",
                                                                            "last_used_at"))
    db.execute(f"INSERT INTO models ({columns}) VALUES ({marks}) ON CONFLICT(path) DO UPDATE SET {updates}",
               [row[c] for c in _COLUMNS])


def _norm(path: str | Path) -> str:
    # Registered paths are absolute; symlinks are kept (an HF snapshot path names the model, its blob does not).
    return str(Path(path).expanduser().absolute())


def _to_row(record: ModelRecord) -> dict[str, Any]:
    row = {column: getattr(record, column) for column in _COLUMNS}
    row["meta"] = json.dumps(record.meta, default=str)
    return row


def _from_row(row: Any) -> ModelRecord:
    values = {column: row[column] for column in _COLUMNS}
    values["meta"] = json.loads(values["meta"]) if values["meta"] else {}
    return ModelRecord(**values)
