"""A process's CPU time, resident memory and descendants, read straight from Linux's ``/proc``.

The resource sampler reads these several times a second while a model decodes on the same cores, so a
reading must cost microseconds: the ``stat`` and ``statm`` files stay open and are re-read with ``pread``
(the kernel regenerates them at offset 0), and descendants come from ``/proc/PID/task/TID/children``
instead of a walk over every process on the machine (what ``psutil.Process.children`` does).
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessGone(Exception):
    """The process exited (or was never there)."""


def proc_readable(pid: int) -> bool:
    """True where ``/proc/PID/stat`` exists (Linux), so :class:`ProcReader` can be used."""
    return (_PROC / str(pid) / "stat").exists()


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise ProcessGone(str(path)) from exc


def _pread(fd: int, size: int) -> bytes:
    try:
        data = os.pread(fd, size, 0)
    except (ProcessLookupError, FileNotFoundError) as exc:  # ESRCH once the process has been reaped
        raise ProcessGone(str(exc)) from exc
    if not data:
        raise ProcessGone("empty /proc file")
    return data


class ProcReader:
    """Reads one process's ``/proc/PID/stat`` and ``statm`` through descriptors kept open."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._stat = _open(_PROC / str(pid) / "stat")
        try:
            self._statm = _open(_PROC / str(pid) / "statm")
        except ProcessGone:
            os.close(self._stat)
            raise

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (its threads included, its children not)."""
        data = _pread(self._stat, 2048)
        # Field 2, the command name, may hold spaces and parentheses: count fields after the last ')'.
        fields = data[data.rindex(b")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # fields 14 (utime) and 15 (stime)

    def rss_bytes(self) -> int:
        """Resident set size."""
        return int(_pread(self._statm, 256).split()[1]) * PAGE_BYTES

    def close(self) -> None:
        """Close the descriptors (idempotent)."""
        for fd in (self._stat, self._statm):
            if fd >= 0:
                os.close(fd)
        self._stat = self._statm = -1

    def __enter__(self) -> ProcReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def children(pid: int) -> list[int] | None:
    """Direct children of ``pid`` (all its threads'), or None where the kernel does not list them."""
    try:
        tasks = os.listdir(_PROC / str(pid) / "task")
    except (FileNotFoundError, ProcessLookupError):
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            text = (_PROC / str(pid) / "task" / tid / "children").read_bytes()
        except FileNotFoundError:
            if not (_PROC / str(pid) / "task" / tid).exists():
                continue  # the thread ended between the two reads
            return None  # a kernel without CONFIG_PROC_CHILDREN
        except ProcessLookupError:
            continue
        found.extend(int(p) for p in text.split())
    return found


def descendants(pid: int) -> list[int] | None:
    """Children, grandchildren, ... of ``pid``; None where the kernel does not list children."""
    out: list[int] = []
    todo = [pid]
    while todo:
        found = children(todo.pop())
        if found is None:
            return None
        out.extend(found)
        todo.extend(found)
    return out
