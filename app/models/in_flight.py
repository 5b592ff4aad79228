"""Pulls in flight, across processes: a small locked ledger so free-space checks count each other.

Each running download writes an entry (its process, the filesystem it writes to, the bytes it still has to
write) to ``<workbench home>/downloads-in-flight.json`` under a file lock. A new pull subtracts the bytes the
others on the same filesystem still need from the free space before it decides whether it fits. Entries of
processes that are gone (a crash, ``kill -9``) are ignored and dropped, so a dead pull never holds space.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from app.models.errors import ModelError, Reason
from app.text_table import human_bytes
from core import paths

# Room left on the disk after a download, so the system does not end up at zero bytes free.
DISK_RESERVE_BYTES = 64 * 1024 * 1024
# How often a pull rewrites its remaining bytes (the ledger is read by others, not by the pull itself).
UPDATE_INTERVAL_S = 1.0
_LOCK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Entry:
    """One active pull: who, on which filesystem, how many bytes it still has to write."""

    key: str
    pid: int
    started: float  # the process start time, so a reused PID is not mistaken for a live pull
    device: int
    remaining: int
    what: str


def ledger_path() -> Path:
    """The ledger file, in the workbench data folder."""
    return paths.home() / "downloads-in-flight.json"


def existing_folder(folder: Path) -> Path:
    """``folder``, or its nearest existing parent (the filesystem a new folder will be created on)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def ensure_disk_space(folder: Path, needed: int, what: str) -> None:
    """Raise DISK_SPACE unless ``needed`` bytes, the other pulls in flight and the reserve fit on the disk."""
    where = existing_folder(folder)
    device = os.stat(where).st_dev
    with _locked() as entries:
        _refuse_unless_fits(where, needed, [e for e in entries if e.device == device], what)


def _refuse_unless_fits(where: Path, needed: int, others: list[Entry], what: str) -> None:
    free = shutil.disk_usage(where).free
    others_bytes = sum(e.remaining for e in others)
    if needed + others_bytes + DISK_RESERVE_BYTES <= free:
        return
    busy = (f", and {len(others)} other pull(s) in flight on that disk still need "
            f"{human_bytes(others_bytes)}") if others else ""
    raise ModelError(Reason.DISK_SPACE, f"not enough disk space for {what}: it needs {human_bytes(needed)} "
                                        f"and {where} has {human_bytes(free)} free{busy} (keeping "
                                        f"{human_bytes(DISK_RESERVE_BYTES)} spare); nothing was downloaded")


class Reservation:
    """This process's entry for one pull; :meth:`update` keeps its remaining bytes current."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._last_update = time.monotonic()

    def update(self, remaining: int, *, force: bool = False) -> None:
        """Record the bytes still to write (at most once a second unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_update < UPDATE_INTERVAL_S:
            return
        self._last_update = now
        with _locked(write=True) as entries:
            for index, entry in enumerate(entries):
                if entry.key == self.key:
                    entries[index] = replace(entry, remaining=max(remaining, 0))


@contextmanager
def reserve(folder: Path, remaining: int, what: str) -> Iterator[Reservation]:
    """Check that ``remaining`` bytes fit beside the pulls in flight, and hold an entry while the pull runs.

    The check and the entry are made under one lock, so two pulls starting together cannot both count on
    the same free bytes.
    """
    where = existing_folder(folder)
    key = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    device = os.stat(where).st_dev
    with _locked(write=True) as entries:
        _refuse_unless_fits(where, remaining, [e for e in entries if e.device == device], what)
        entries.append(Entry(key, os.getpid(), _start_time(os.getpid()), device, remaining, what))
    try:
        yield Reservation(key)
    finally:
        with _locked(write=True) as entries:
            entries[:] = [e for e in entries if e.key != key]


@contextmanager
def _locked(*, write: bool = False) -> Iterator[list[Entry]]:
    from filelock import FileLock, Timeout

    path = ledger_path()
    lock = FileLock(str(path.with_name(path.name + ".lock")))
    try:
        lock.acquire(timeout=_LOCK_TIMEOUT_S)
    except Timeout:
        raise ModelError(Reason.BAD_INPUT, f"the download ledger {path} stayed locked for "
                                           f"{_LOCK_TIMEOUT_S:g} s; is another workbench stuck?") from None
    try:
        stored = _read(path)
        entries = [e for e in stored if _alive(e)]
        yield entries
        if write or len(entries) != len(stored):
            _write(path, entries)
    finally:
        lock.release()


def _read(path: Path) -> list[Entry]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []  # missing or damaged (a crash mid-write cannot happen: it is replaced atomically)
    entries = []
    for item in raw.get("pulls", []) if isinstance(raw, dict) else []:
        try:
            entries.append(Entry(str(item["key"]), int(item["pid"]), float(item["started"]), int(item["device"]),
                                 int(item["remaining"]), str(item.get("what", ""))))
        except (KeyError, TypeError, ValueError):
            continue
    return entries


def _write(path: Path, entries: list[Entry]) -> None:
    payload: dict[str, Any] = {"pulls": [asdict(e) for e in entries]}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        # The ledger is advice to other pulls: a data folder on a full disk must not fail this one.
        temporary.unlink(missing_ok=True)


def _start_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return 0.0


def _alive(entry: Entry) -> bool:
    import psutil

    try:
        process = psutil.Process(entry.pid)
        # A different start time means the PID was reused by another program after the pull died.
        return abs(process.create_time() - entry.started) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False
