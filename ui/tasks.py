"""One helper for all background work in the GUI: run a function off the UI thread, get the answer back on it.

Work is a plain function ``fn(state)`` that reports through ``state.progress(...)`` and checks
``state.cancelled`` (the Orange pattern), so it can be tested without any widget.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class TaskState:
    """Given to the work function: progress reporting (throttled) and a cancel flag."""

    def __init__(self, emit_progress: Callable[[float, str], None]) -> None:
        self._emit = emit_progress
        self._cancel = threading.Event()
        self._last = 0.0

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the work to stop."""
        self._cancel.set()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress (0..1); at most 20 updates a second reach the UI."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.05:
            return
        self._last = now
        self._emit(fraction, message)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str, str)
    progress = Signal(float, str)


class Task(QRunnable):
    """A unit of background work; keep the object to cancel it."""

    def __init__(self, fn: Callable[[TaskState], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = _Signals()
        self.state = TaskState(self.signals.progress.emit)
        self._fn = fn
        self.finished = threading.Event()

    def run(self) -> None:
        """Runs on a pool thread."""
        try:
            result = self._fn(self.state)
        except Exception as exc:
            self.signals.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.signals.done.emit(result)
        finally:
            self.finished.set()

    def cancel(self) -> None:
        """Ask the work function to stop."""
        self.state.cancel()


class TaskRunner(QObject):
    """Runs tasks on a private thread pool and delivers results on the UI thread."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(max_threads)
        self._active: set[Task] = set()

    def run(self, fn: Callable[[TaskState], Any], *, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[str, str], None] | None = None,
            on_progress: Callable[[float, str], None] | None = None) -> Task:
        """Start ``fn(state)`` in the background; callbacks run on the UI thread."""
        task = Task(fn)
        if on_done is not None:
            task.signals.done.connect(on_done)
        if on_error is not None:
            task.signals.failed.connect(on_error)
        if on_progress is not None:
            task.signals.progress.connect(on_progress)
        task.signals.done.connect(lambda _result: self._active.discard(task))
        task.signals.failed.connect(lambda *_: self._active.discard(task))
        self._active.add(task)
        self._pool.start(task)
        return task

    @property
    def active_count(self) -> int:
        """Tasks not finished yet."""
        return sum(1 for task in self._active if not task.finished.is_set())

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything and wait for the pool to drain; True when it did."""
        for task in list(self._active):
            task.cancel()
        drained = bool(self._pool.waitForDone(timeout_ms))
        for task in list(self._active):
            if not task.finished.is_set():
                # Still running past the timeout: its results must not reach widgets being destroyed.
                for signal in (task.signals.done, task.signals.failed, task.signals.progress):
                    try:
                        signal.disconnect()
                    except (RuntimeError, TypeError):
                        pass
        self._active = {task for task in self._active if not task.finished.is_set()}
        return drained
