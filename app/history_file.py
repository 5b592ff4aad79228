"""Opening the history's SQLite file: check it, move a damaged one aside, and say plainly what is wrong.

A damaged file (truncated, overwritten with garbage or HTML, failing ``PRAGMA quick_check``) is never
deleted: it is renamed with the time (``workbench.corrupt-20260101-120000.db``, with its ``-wal`` and
``-shm`` files) and a new, empty history takes its place. A file that cannot be written (read-only
folder, a data folder that is a file, a disk error) raises :class:`HistoryUnavailable` with a sentence a
user can act on instead of a raw ``sqlite3`` error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from app.file_lock import file_lock

# sqlite3 primary result codes (the low byte of extended codes).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
_BUSY_TIMEOUT_S = 30
# Up to this size every start runs a full quick_check; above it the time series (``samples``, most of
# a big file) are checked only after damage was met in them (see ``request_full_check``).
FULL_CHECK_MAX_BYTES = 64 << 20
_BULK_TABLES = frozenset({"samples"})
_SIDE_FILES = ("-wal", "-shm")


class HistoryUnavailable(RuntimeError):
    """The history file cannot be used for writing; ``readable`` says whether reading it may still work."""

    def __init__(self, message: str, *, path: Path | None = None, readable: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.readable = readable


class DamagedDatabase(Exception):
    """The file is not a healthy SQLite database (raised inside this module only)."""


def error_code(exc: BaseException) -> int | None:
    """The primary SQLite result code of an ``sqlite3`` error, when it carries one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_damage(exc: BaseException) -> bool:
    """Whether an ``sqlite3`` error means the file's content is damaged (not locked, not unwritable)."""
    return isinstance(exc, sqlite3.DatabaseError) and error_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def describe_failure(path: Path, exc: BaseException) -> str:
    """One sentence for a user about why ``path`` could not be opened for writing."""
    code = error_code(exc)
    if isinstance(exc, PermissionError) or code in (_SQLITE_READONLY, _SQLITE_PERM):
        return f"the history {path} cannot be written (read-only file or folder)"
    if code == _SQLITE_CANTOPEN:
        if not os.access(path.parent, os.W_OK):
            return f"the history {path} cannot be written: its folder {path.parent} is read-only"
        return f"the history {path} cannot be opened ({exc})"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return f"the history {path} stayed locked by another process for {_BUSY_TIMEOUT_S} s"
    if code == _SQLITE_FULL:
        return f"the history {path} cannot be written: the disk is full"
    if code == _SQLITE_IOERR:
        return f"the history {path} cannot be written: disk I/O error ({exc})"
    if isinstance(exc, OSError):
        return f"the history {path} cannot be opened: {exc.strerror or exc}"
    return f"the history {path} cannot be opened: {exc}"


def _is_new(path: Path) -> bool:
    """True while nothing has been written to ``path`` yet (only then is it turned to WAL)."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the app's settings; read-only ones never create or change a file."""
    if str(path) == ":memory:":
        return sqlite3.connect(":memory:", check_same_thread=False)
    if not read_only:
        # Turning a new file to WAL needs the only lock on it; processes starting together take turns
        # here, or one holding a read lock and one upgrading can stall each other until the busy timeout.
        with contextlib.ExitStack() as turn:
            if _is_new(path):
                try:
                    turn.enter_context(file_lock(path.with_name(path.name + ".open.lock"), timeout=_BUSY_TIMEOUT_S))
                except OSError:  # a read-only folder (nothing to convert there) or a lock held too long
                    pass
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
        return conn
    uri = "file:" + quote(str(path.resolve()))
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        # A WAL file in a read-only folder cannot get its -shm index; nothing can change the file
        # there, so reading it as immutable is safe.
        conn.close()
        conn = sqlite3.connect(uri + "?immutable=1", uri=True, check_same_thread=False)
    return conn


def quick_check(conn: sqlite3.Connection, *, full: bool = True) -> None:
    """Raise :class:`DamagedDatabase` unless ``PRAGMA quick_check`` says ok.

    ``full=False`` checks every table but the bulk of time-series samples (a full check reads the whole
    file: about 1 s per 100 MB here).
    """
    try:
        if full:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
        else:
            tables = [str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = ["ok"]
            for table in tables:
                if table not in _BULK_TABLES:
                    found = [str(row[0]) for row in conn.execute("SELECT * FROM pragma_quick_check(?)", [table])]
                    if found != ["ok"]:
                        rows = found
                        break
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise DamagedDatabase(str(exc)) from exc
        raise
    if rows != ["ok"]:
        raise DamagedDatabase("; ".join(rows))


def needs_full_check(path: Path) -> bool:
    """A full check at start for a small file, or after damage was met while the app ran."""
    try:
        size = path.stat().st_size
    except OSError:
        return True
    return size <= FULL_CHECK_MAX_BYTES or _check_marker(path).exists()


def request_full_check(path: Path) -> None:
    """Ask for a full ``quick_check`` at the next start (damage met in a table not checked at start)."""
    try:
        _check_marker(path).touch()
    except OSError:
        pass  # a read-only folder: the damage is reported anyway; nothing can be replaced there


def _check_marker(path: Path) -> Path:
    return path.with_name(path.name + ".check")


def _clear_marker(path: Path) -> None:
    marker = _check_marker(path)
    if marker.exists():
        marker.unlink(missing_ok=True)


def check_header(path: Path) -> None:
    """Raise :class:`DamagedDatabase` for a file shorter than its own header says (cut off)."""
    wal = Path(str(path) + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # pages still in the WAL may lawfully be beyond the main file's end
    with open(path, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return  # not SQLite at all: SQLite itself says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when "version-valid-for" equals the change counter.
    if header[92:96] == header[24:28] and path.stat().st_size < pages * page_size:
        raise DamagedDatabase(f"the file holds {path.stat().st_size:,} bytes but its header counts "
                              f"{pages * page_size:,} (cut off)")


def open_checked(path: Path, notify: Callable[[str], None]) -> sqlite3.Connection:
    """Open ``path`` for writing after ``quick_check``; a damaged file is moved aside and replaced."""
    try:
        return _open_and_check(path)
    except DamagedDatabase as damage:
        reason = str(damage)
    except sqlite3.Error as exc:
        raise HistoryUnavailable(describe_failure(path, exc), path=path,
                                 readable=path.is_file() and os.access(path, os.R_OK)) from exc
    # One process at a time recovers: a second one that found the same damage must not move aside the
    # new file the first one just created.
    try:
        with file_lock(path.with_name(path.name + ".lock"), timeout=_BUSY_TIMEOUT_S):
            try:
                return _open_and_check(path)  # another process may have recovered it meanwhile
            except DamagedDatabase:
                pass
            kept = move_aside(path)
            notify(f"the history database {path} is damaged ({reason}); it was kept as {kept.name} "
                   f"and a new, empty history was started")
            return _open_and_check(path)
    except (OSError, sqlite3.Error, DamagedDatabase) as exc:
        raise HistoryUnavailable(f"the history {path} is damaged ({reason}) and could not be replaced: "
                                 f"{exc}", path=path) from exc


def _open_and_check(path: Path) -> sqlite3.Connection:
    if path.is_file() and path.stat().st_size > 0:
        check_header(path)
        full = needs_full_check(path)
        _check_read_only(path, full)
        if full:
            _clear_marker(path)
    try:
        return connect(path)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise DamagedDatabase(str(exc)) from exc
        raise


def _check_read_only(path: Path, full: bool) -> None:
    # Checked through a read-only connection: closing a read-write one on a damaged file lets SQLite
    # checkpoint into it and delete its -wal, and both belong in the copy that is kept.
    try:
        conn = sqlite3.connect("file:" + quote(str(path.resolve())) + "?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return  # the read-write open below says what is wrong
    try:
        quick_check(conn, full=full)
    except sqlite3.Error as exc:
        if is_damage(exc):
            raise DamagedDatabase(str(exc)) from exc
        # Not damage (no -shm can be made in a read-only folder, ...): the read-write open decides.
    finally:
        conn.close()


def move_aside(path: Path) -> Path:
    """Rename a damaged database and its -wal/-shm files with the time; returns the new main file."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        suffix = "" if attempt == 0 else f"-{attempt}"
        kept = path.with_name(f"{path.stem}.corrupt-{stamp}{suffix}{path.suffix}")
        if not any(Path(str(kept) + side).exists() for side in ("", *_SIDE_FILES)):
            break
    else:  # pragma: no cover - a thousand damaged files in one second
        raise FileExistsError(kept)
    # The -wal file goes along (left behind, the new database would replay the old one's pages) unless
    # it is empty; the -shm is only an index SQLite rebuilds from the -wal, so it is dropped.
    wal, shm = Path(str(path) + "-wal"), Path(str(path) + "-shm")
    if wal.exists() and wal.stat().st_size > 0:
        os.replace(wal, str(kept) + "-wal")
    wal.unlink(missing_ok=True)
    shm.unlink(missing_ok=True)
    _clear_marker(path)  # the new file starts clean
    if path.exists():
        os.replace(path, kept)
    return kept
