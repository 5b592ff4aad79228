"""Read another machine's export (JSON, CSV or SQLite) so it can be compared in the same table."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from app.compare.export import CSV_JSON, FORMAT, METRIC_PREFIX, VERSION
from app.compare.results import CompareSession, Flag, ResultRow
from app.compare.store import CompareStore, result_from_row, session_from_row


class ImportFailed(ValueError):
    """The file is not a comparison export this workbench can read; the message says what is wrong."""


def read_export(path: Path) -> list[CompareSession]:
    """The sessions in an export file (format from its content and suffix)."""
    if not path.is_file():
        raise ImportFailed(f"no file {path}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3"):
        return _read_sqlite(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name} is neither JSON, CSV nor a SQLite database") from None
    if text.lstrip().startswith("{"):
        return _read_json(text, path.name)
    if path.suffix.lower() == ".md":
        raise ImportFailed(f"{path.name} is a Markdown report (for reading); import the JSON, CSV or SQLite export")
    return _read_csv(text, path.name)


def _read_json(text: str, name: str) -> list[CompareSession]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImportFailed(f"{name} is JSON but not a workbench comparison export (no format={FORMAT!r})")
    if int(data.get("version", 0)) > VERSION:
        raise ImportFailed(f"{name} was written by a newer workbench (version {data.get('version')}; this one "
                           f"reads up to {VERSION})")
    try:
        return [CompareSession.from_dict(s) for s in data.get("sessions") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportFailed(f"{name}: a session is incomplete ({type(exc).__name__}: {exc})") from None


def _read_csv(text: str, name: str) -> list[CompareSession]:
    reader = csv.DictReader(io.StringIO(text))
    needed = {"session_id", "workload", "device", *CSV_JSON}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise ImportFailed(f"{name} is not a comparison CSV export (it lacks the columns "
                           f"{', '.join(sorted(needed - set(reader.fieldnames or [])))})")
    sessions: dict[str, CompareSession] = {}
    try:
        for line in reader:
            sid = line["session_id"]
            if sid not in sessions:
                sessions[sid] = CompareSession(
                    id=sid, created_at=float(line.get("created_at") or 0.0), workload="",
                    settings=json.loads(line["settings"] or "{}"), machine=json.loads(line["machine"] or "{}"),
                    status="ok", source=line.get("source") or "local",
                    meta=json.loads(line["session_meta"] or "{}"))
            metrics = {key[len(METRIC_PREFIX):]: float(value) for key, value in line.items()
                       if key and key.startswith(METRIC_PREFIX) and value not in (None, "")}
            sessions[sid].results.append(ResultRow(
                workload=line["workload"], device=line["device"], backend=line.get("backend") or "",
                precision=line.get("precision") or "", variant=line.get("variant") or "", metrics=metrics,
                flags=[Flag.from_dict(f) for f in json.loads(line["flags"] or "[]")],
                samples=json.loads(line["samples"] or "{}"), run_id=line.get("run_id") or None))
    except (ValueError, KeyError) as exc:
        raise ImportFailed(f"{name}: line {reader.line_num} cannot be read ({exc})") from None
    for session in sessions.values():
        session.workload = ",".join(dict.fromkeys(r.workload for r in session.results))
    return list(sessions.values())


def _read_sqlite(path: Path) -> list[CompareSession]:
    # Read-only: an import must never migrate or otherwise change the file it was given.
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFailed(f"cannot open {path.name}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"compare_sessions", "compare_results"} <= tables:
            raise ImportFailed(f"{path.name} is a SQLite file without comparison tables")
        sessions = []
        for row in conn.execute("SELECT * FROM compare_sessions ORDER BY created_at"):
            session = session_from_row(dict(row))
            for stored in conn.execute("SELECT * FROM compare_results WHERE session_id = ? ORDER BY id",
                                       [session.id]):
                session.results.append(result_from_row(dict(stored)))
            sessions.append(session)
        return sessions
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path.name}: {exc}") from None
    finally:
        conn.close()


def import_file(store: CompareStore, path: Path) -> list[CompareSession]:
    """Store every session of an export as imported; a session imported before is not stored twice."""
    imported = []
    stored = store.sessions()
    known = {(s.meta.get("original_id"), s.machine.get("id")): s for s in stored if s.imported}
    local = {(s.id, s.machine.get("id")) for s in stored if not s.imported}
    for session in read_export(path):
        if not session.imported and (session.id, session.machine.get("id")) in local:
            imported.append(store.session(session.id))  # this history's own session, exported and read back
            continue
        key = (session.meta.get("original_id") or session.id, session.machine.get("id"))
        if key in known:
            imported.append(store.session(known[key].id))
            continue
        if session.meta.get("original_id"):
            session.id = session.meta["original_id"]  # an import of an import keeps the first id
        saved = store.save_imported(session, source=f"import: {path.name}")
        known[key] = saved
        imported.append(saved)
    return imported
