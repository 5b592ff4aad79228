"""The app's watch on a worker that stops answering because it was stopped (SIGSTOP, a suspended process).

A stopped worker never reads a cancel, never sends a result and never dies, so the request waiting on it
would wait for ever (and a caller that cannot send a cancel, say one that ignores SIGINT, has no way
out). Once a worker with a request pending has stayed stopped for the grace period, the watch notes why
in the worker's log and kills it; the request then ends as a crash whose message carries that note.
A worker stopped by a debugger (tracing stop) is left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Self

import psutil

POLL_S = 0.25


class StoppedWorkerWatch:
    """Polls one worker's state while ``busy()`` says a request waits on it."""

    def __init__(self, pid: int, *, grace_s: float, busy: Callable[[], bool], log_path: str = "",
                 poll_s: float = POLL_S) -> None:
        self.pid = pid
        self.grace_s = grace_s
        self.poll_s = poll_s
        self._busy = busy
        self._log_path = log_path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"stopped-watch-{pid}", daemon=True)

    def start(self) -> Self:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the worker is being shut down)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        try:
            # psutil.Process remembers the start time, so a PID reused after the worker ended is never
            # signalled: its calls raise NoSuchProcess instead.
            process = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        stopped_since: float | None = None
        polls = 0
        while not self._stop.wait(self.poll_s):
            try:
                status = process.status()
            except psutil.NoSuchProcess:
                return
            if status == psutil.STATUS_ZOMBIE:
                return
            if status != psutil.STATUS_STOPPED or not self._busy():
                stopped_since, polls = None, 0
                continue
            stopped_since = stopped_since if stopped_since is not None else time.monotonic()
            polls += 1
            # Both clocks must agree: counting polls keeps a Ctrl-Z of the whole terminal job (this
            # process stopped as long as the worker) from looking like a long stop once both resume.
            if polls * self.poll_s >= self.grace_s and time.monotonic() - stopped_since >= self.grace_s:
                self._kill(process)
                return

    def _kill(self, process: psutil.Process) -> None:
        note = (f"workbench: the worker (process {self.pid}) was stopped (SIGSTOP or suspended) for "
                f"{self.grace_s:g} s while a request waited on it; killed it\n")
        if self._log_path:
            try:
                with open(self._log_path, "a", encoding="utf-8") as log:
                    log.write(note)
            except OSError:
                pass
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
