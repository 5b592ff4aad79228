"""A comparison running in the background, seen from the UI thread as Qt signals.

The runner (``app.compare.runner``) works on a task of the shared :class:`~ui.tasks.TaskRunner`; its events
go into a queue that a timer drains ten times a second, so a burst of samples costs one UI update.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.compare.events import (
    CompareEvent,
    ConfigDone,
    ConfigStarted,
    LiveSample,
    PlanReady,
    SessionDone,
    StepProgress,
)
from app.compare.plan import CompareSettings
from app.compare.results import CompareSession
from app.compare.runner import CompareRunner
from ui.context import AppContext
from ui.tasks import Task

DRAIN_MS = 100


class CompareJob(QObject):
    """Runs one comparison; at most one at a time per job object."""

    planned = Signal(str, list)  # session id, [config labels]
    config_started = Signal(int, int, str)  # index, total, label
    progress = Signal(float, str)  # fraction of the whole comparison, message
    live = Signal(list)  # [(label, series, value, t)] since the last drain
    config_done = Signal(object)  # ResultRow
    finished = Signal(object)  # the stored CompareSession, final flags included (status ok | cancelled | failed)
    failed = Signal(str)  # the comparison could not start or broke: the reason

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._events: collections.deque[CompareEvent] = collections.deque()
        self._runner: CompareRunner | None = None
        self._task: Task | None = None
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self._drain)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished`` or ``failed``."""
        return self._task is not None

    def start(self, settings: CompareSettings, device_report: Mapping[str, Any] | None = None) -> None:
        """Plan and run ``settings`` in the background."""
        if self._task is not None:
            raise RuntimeError("a comparison is already running")
        runner = CompareRunner(settings, self._context.history, on_event=self._events.append,
                               device_report=device_report or None)
        with self._lock:
            self._runner = runner

        def work(_state: Any) -> CompareSession:
            return runner.run()

        self._task = self._context.tasks.run(work, on_done=self._on_done, on_error=self._on_error)
        self._timer.start()

    def cancel(self) -> None:
        """Ask the running configuration to stop; ``finished`` follows with status ``cancelled``."""
        with self._lock:
            runner = self._runner
        if runner is not None:
            runner.cancel()
        if self._task is not None:
            self._task.cancel()

    def _drain(self) -> None:
        live: list[tuple[str, str, float, float]] = []
        while self._events:
            event = self._events.popleft()
            if isinstance(event, LiveSample):
                live.append((event.config_label, event.series, event.value, event.t))
            elif isinstance(event, StepProgress):
                self.progress.emit(event.fraction, event.message)
            elif isinstance(event, PlanReady):
                self.planned.emit(event.session_id, [c.label for c in event.configs])
            elif isinstance(event, ConfigStarted):
                self.config_started.emit(event.index, event.total, event.config.label)
            elif isinstance(event, ConfigDone):
                self.config_done.emit(event.row)
            elif isinstance(event, SessionDone):
                pass  # the task's result carries the same news, after the runner has stored everything
        if live:
            self.live.emit(live)

    def _on_done(self, session: CompareSession) -> None:
        self._drain()
        self._stop()
        with self._lock:
            self._runner = None
        self.finished.emit(session)

    def _on_error(self, message: str, _traceback: str) -> None:
        self._drain()
        self._stop()
        with self._lock:
            self._runner = None
        self.failed.emit(message)

    def _stop(self) -> None:
        self._timer.stop()
        self._task = None

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel and wait for the background task (the page is closing)."""
        self.cancel()
        task = self._task
        if task is not None:
            task.finished.wait(timeout_s)
        self._timer.stop()
