"""Telling a process from a later one that reused its PID: the PID plus the process's start time."""

from __future__ import annotations

import os
import sys

# Start times read from /proc are exact clock ticks; psutil's (other systems) can differ by rounding.
_TOLERANCE_S = 0.05 if sys.platform.startswith("linux") else 1.0


def start_time(pid: int) -> float | None:
    """When process ``pid`` started, in a clock fixed for this boot; None when there is no such process."""
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return None
        # Field 22 (starttime, in clock ticks since boot) comes after the command name, which may hold
        # spaces and parentheses itself: count from the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def is_running(pid: int | None, started: float | None = None) -> bool:
    """Whether process ``pid`` still runs and, when ``started`` is known, is the one that started then."""
    if not pid:
        return False
    now = start_time(pid)
    if now is None:
        return _signal_alive(pid)
    return started is None or abs(now - started) <= _TOLERANCE_S


def _signal_alive(pid: int) -> bool:
    # Where the start time cannot be read (another user's process on some systems), fall back to kill 0;
    # on Windows os.kill(pid, 0) would terminate the process, so ask psutil there.
    if sys.platform == "win32":
        import psutil

        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
