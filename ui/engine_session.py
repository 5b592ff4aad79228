"""A loaded model in a worker process, seen from the UI thread as Qt signals.

Starting the worker, loading the model and every request run on background threads; events come back
through queued signals. Runs are recorded in the history by ``app.recording``. Pages never block on an
engine, and a crashed worker turns into the ``crashed`` signal with its reason, not into a dead window.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.errors import EngineDeadError, RequestCancelledError, RequestFailed
from app.history import History
from app.messages import Event, Partial, Progress
from app.recording import RunOutcome, run_recorded
from app.supervisor import EngineClient, RequestHandle, start_engine


class EngineSession(QObject):
    """One engine worker with one model; at most one request at a time."""

    load_progress = Signal(float, str)  # fraction (or -1 when unknown), message
    loaded = Signal(dict)  # model info
    load_failed = Signal(str, str)  # kind, message
    partial = Signal(dict)  # Partial.data of the current request
    progress = Signal(float, float, str)  # done, total (-1 unknown), message
    finished = Signal(object)  # RunOutcome
    crashed = Signal(str)  # human reason, with the end of the worker's stderr
    busy_changed = Signal(bool)

    def __init__(self, engine_id: str, history: History, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine_id = engine_id
        self.history = history
        self._client: EngineClient | None = None
        self._handle: RequestHandle | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = False
        self.model_info: dict[str, Any] = {}
        self.model_id: str | None = None
        self.device = "cpu"

    # --- state ---------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while loading or running a request."""
        return self._busy

    @property
    def is_loaded(self) -> bool:
        """True when a worker holds a model."""
        return self._client is not None and self._client.alive and bool(self.model_info)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.busy_changed.emit(busy)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"session-{self.engine_id}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # --- load ----------------------------------------------------------------------------------
    def load(self, model: str, device: str = "cpu", options: Mapping[str, Any] | None = None,
             threads: int | None = None, model_id: str | None = None) -> None:
        """Start (or reuse) the worker and load ``model`` in the background."""
        self._set_busy(True)
        self.model_id, self.device = model_id or model, device
        self._spawn(self._load, model, device, dict(options or {}), threads)

    def _load(self, model: str, device: str, options: dict[str, Any], threads: int | None) -> None:
        try:
            if self._client is None or not self._client.alive:
                if self._client is not None:
                    self._client.close()
                self.load_progress.emit(-1.0, "starting the engine worker")
                self._client = start_engine(self.engine_id, threads=threads)
            handle = self._client.submit_load(model, device, options)
            for event in handle.events():
                if isinstance(event, Progress):
                    fraction = event.done / event.total if event.total else -1.0
                    self.load_progress.emit(fraction, event.message)
            info = dict(handle.result())
            self._client.model_info = info
            self.model_info = info
            self.loaded.emit(info)
        except RequestFailed as exc:
            self.model_info = {}
            self.load_failed.emit(exc.kind, exc.message)
        except EngineDeadError as exc:
            self.model_info = {}
            self.crashed.emit(exc.message)
        except Exception as exc:
            self.model_info = {}
            self.load_failed.emit("internal", f"{type(exc).__name__}: {exc}")
        finally:
            self._set_busy(False)

    # --- run -----------------------------------------------------------------------------------
    def run(self, op: str, params: Mapping[str, Any] | None = None, *, record: bool = True) -> None:
        """Run ``op`` in the background; watch ``partial``/``progress``/``finished``/``crashed``."""
        if self._client is None:
            self.finished.emit(RunOutcome("", "failed", error="no model is loaded", error_kind="bad_input"))
            return
        self._set_busy(True)
        self._spawn(self._run, op, dict(params or {}), record)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Partial):
            self.partial.emit(dict(event.data))
        elif isinstance(event, Progress):
            self.progress.emit(event.done, -1.0 if event.total is None else event.total, event.message)

    def _run(self, op: str, params: dict[str, Any], record: bool) -> None:
        client = self._client
        assert client is not None
        try:
            if record:
                outcome = run_recorded(client, op, params, history=self.history, engine=self.engine_id,
                                       model_id=self.model_id, device=self.device, on_event=self._on_event,
                                       on_start=self._remember_handle)
            else:
                outcome = self._run_unrecorded(client, op, params)
        except Exception as exc:
            outcome = RunOutcome("", "failed", error=f"{type(exc).__name__}: {exc}", error_kind="internal")
        finally:
            self._handle = None
            self._set_busy(False)
        if outcome.status == "crashed":
            self.model_info = {}
            self.crashed.emit(outcome.error or "the engine worker died")
        self.finished.emit(outcome)

    def _run_unrecorded(self, client: EngineClient, op: str, params: dict[str, Any]) -> RunOutcome:
        handle = client.submit(op, params)
        self._handle = handle
        for event in handle.events():
            self._on_event(event)
        try:
            return RunOutcome("", "ok", result=handle.result())
        except RequestCancelledError as exc:
            return RunOutcome("", "cancelled", result=exc.data)
        except RequestFailed as exc:
            return RunOutcome("", "failed", error=exc.message, error_kind=exc.kind)
        except EngineDeadError as exc:
            return RunOutcome("", "crashed", error=exc.message, error_kind="crashed")

    def _remember_handle(self, _run_id: str, handle: RequestHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        """Ask the current request to stop (the worker is killed if it does not, after a grace period)."""
        handle = self._handle
        if handle is not None:
            handle.cancel()

    # --- lifecycle -----------------------------------------------------------------------------
    def restart(self) -> None:
        """Start a fresh worker and reload the last model (after a crash)."""
        self._set_busy(True)
        self._spawn(self._restart)

    def _restart(self) -> None:
        try:
            if self._client is None:
                return
            self.load_progress.emit(-1.0, "restarting the engine worker")
            self._client.restart()
            self.model_info = dict(self._client.model_info)
            self.loaded.emit(self.model_info)
        except RequestFailed as exc:
            self.load_failed.emit(exc.kind, exc.message)
        except EngineDeadError as exc:
            self.crashed.emit(exc.message)
        finally:
            self._set_busy(False)

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (tests kill it to check the restart path)."""
        return None if self._client is None else self._client.pid

    def close(self, timeout: float = 10.0) -> None:
        """Stop any request, close the worker and wait for the background threads."""
        self.cancel()
        if self._client is not None:
            self._client.close()
            self._client = None
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        self.model_info = {}
