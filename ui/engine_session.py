"""The thin Qt adapter over the model service: one page's model, its requests' events as signals.

The service (``app.service.ModelService``, shared by every page through the ``AppContext``) loads models just
in time, queues requests, restarts crashed workers and records runs; this class only remembers which model
the page uses and turns ticket events into queued Qt signals, so pages never block on an engine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.history import History
from app.messages import Partial, Progress, Started
from app.recording import RunOutcome, RunStatus
from app.service import Finished, Loaded, Loading, ModelService, Ticket
from app.service.tickets import TicketEvent


class EngineSession(QObject):
    """A page's view of one model slot in the service."""

    load_progress = Signal(float, str)  # fraction (or -1 when unknown), message
    loaded = Signal(dict)  # model info
    load_failed = Signal(str, str)  # kind, message
    partial = Signal(dict)  # Partial.data of the current request
    progress = Signal(float, float, str)  # done, total (-1 unknown), message
    finished = Signal(object)  # RunOutcome
    crashed = Signal(str)  # human reason, with the end of the worker's stderr
    busy_changed = Signal(bool)
    started = Signal(str)  # op: a request left the queue and the engine began it
    _ticket_finished = Signal(object, object, bool)  # ticket, outcome, was a load (delivered on the UI thread)

    def __init__(self, engine_id: str, history: History, parent: QObject | None = None,
                 service: ModelService | None = None) -> None:
        super().__init__(parent)
        self.engine_id = engine_id
        self.history = history
        self._own_service = service is None
        self.service = service if service is not None else ModelService(history)
        self._tickets: list[Ticket] = []
        self._lock = threading.Lock()
        self.model: str | None = None
        self.model_id: str | None = None
        self.device = "cpu"
        self.options: dict[str, Any] = {}
        self.threads: int | None = None
        self._ticket_finished.connect(self._on_ticket_finished)

    # --- state ---------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while one of this page's requests (or loads) is queued or running."""
        with self._lock:
            return bool(self._tickets)

    @property
    def is_loaded(self) -> bool:
        """True when the service holds this page's model, loaded."""
        slot = self._slot()
        return slot is not None and slot.state == "ready"

    @property
    def model_info(self) -> dict[str, Any]:
        """What the engine reported when it loaded the model (empty when not loaded)."""
        slot = self._slot()
        return dict(slot.info) if slot is not None and slot.state == "ready" else {}

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (tests kill it to check the restart path)."""
        if self.model is None:
            return None
        client = self.service.client(self.engine_id, self.model, self.device)
        return None if client is None else client.pid

    def _slot(self) -> Any:
        return None if self.model is None else self.service.slot(self.engine_id, self.model, self.device)

    # --- requests ------------------------------------------------------------------------------
    def load(self, model: str, device: str = "cpu", options: Mapping[str, Any] | None = None,
             threads: int | None = None, model_id: str | None = None) -> None:
        """Use ``model`` from now on and load it in the background (it would load on first use anyway)."""
        self.use(model, device, options, threads, model_id)
        self._track(lambda on_event: self.service.load(self.engine_id, str(model), device=device,
                                                        options=self.options, threads=threads,
                                                        on_event=on_event), load=True)

    def use(self, model: str, device: str = "cpu", options: Mapping[str, Any] | None = None,
            threads: int | None = None, model_id: str | None = None) -> None:
        """Use ``model`` for the next requests; it loads with the first of them."""
        self.model, self.model_id, self.device = str(model), model_id or str(model), device
        self.options, self.threads = dict(options or {}), threads

    def uses(self, model: str, device: str, options: Mapping[str, Any] | None = None) -> bool:
        """True when the next request goes to this model, device and options."""
        return (self.model, self.device, self.options) == (str(model), device, dict(options or {}))

    def run(self, op: str, params: Mapping[str, Any] | None = None, *, record: bool = True,
            replace_queued: bool = False, front: bool = False) -> int:
        """Run ``op`` on the page's model in the background; watch ``partial``/``progress``/``finished``.

        ``replace_queued`` drops this page's requests of the same op that have not started (only the newest
        counts, e.g. evidence clicked quickly); ``front`` puts the request before the waiting ones. Returns
        how many waiting requests were replaced.
        """
        if self.model is None:
            self.finished.emit(RunOutcome("", RunStatus.FAILED, error="no model is loaded", error_kind="bad_input"))
            return 0
        replaced = 0
        if replace_queued:
            with self._lock:
                waiting = [t for t in self._tickets if t.op == op and t.state == "queued"]
            for ticket in waiting:
                ticket.cancel()
                replaced += 1
        model = self.model
        self._track(lambda on_event: self.service.submit(
            self.engine_id, model, op, dict(params or {}), device=self.device, options=self.options,
            threads=self.threads, record=record, model_id=self.model_id, on_event=on_event, front=front),
            load=False)
        return replaced

    def _track(self, submit: Any, *, load: bool) -> None:
        holder: dict[str, Ticket] = {}
        was_busy = self.busy

        def on_event(event: TicketEvent) -> None:
            ticket = holder.get("ticket")
            if ticket is not None:
                self._on_event(ticket, event, load)

        try:
            ticket = submit(on_event)
        except Exception as exc:  # a full queue or a closed service
            outcome = RunOutcome("", RunStatus.FAILED, error=str(exc), error_kind="busy")
            if load:
                self.load_failed.emit("busy", str(exc))
            else:
                self.finished.emit(outcome)
            return
        holder["ticket"] = ticket
        with self._lock:
            self._tickets.append(ticket)
        if not was_busy:
            self.busy_changed.emit(True)
        if ticket.done:  # it finished before the holder was filled: replay its end
            self._on_event(ticket, Finished(ticket.id, ticket.outcome()), load)

    def _on_event(self, ticket: Ticket, event: TicketEvent, load: bool) -> None:
        if isinstance(event, Loading):
            self.load_progress.emit(event.fraction, event.message)
        elif isinstance(event, Loaded):
            self.loaded.emit(dict(event.info))
        elif isinstance(event, Partial):
            self.partial.emit(dict(event.data))
        elif isinstance(event, Started) and not load:
            self.started.emit(ticket.op or "")
        elif isinstance(event, Progress) and not load:
            self.progress.emit(event.done, -1.0 if event.total is None else event.total, event.message)
        elif isinstance(event, Finished):
            # Handled on the UI thread, after the signals this request sent before: ``busy`` turns false
            # only once the page has seen them all.
            self._ticket_finished.emit(ticket, event.outcome, load)

    def _on_ticket_finished(self, ticket: Ticket, outcome: RunOutcome, load: bool) -> None:
        with self._lock:
            if ticket not in self._tickets:
                return
            self._tickets.remove(ticket)
            still_busy = bool(self._tickets)
        if not still_busy:
            self.busy_changed.emit(False)
        if outcome.status == RunStatus.CRASHED:
            self.crashed.emit(outcome.error or "the engine worker died")
        elif outcome.phase == "load" and outcome.status == RunStatus.FAILED:
            self.load_failed.emit(outcome.error_kind or "internal", outcome.error or "")
        if not load:
            self.finished.emit(outcome)

    def cancel(self) -> None:
        """Stop this page's requests (a running one is killed if it does not stop within the grace period)."""
        with self._lock:
            tickets = list(self._tickets)
        for ticket in tickets:
            ticket.cancel()

    # --- lifecycle -----------------------------------------------------------------------------
    def restart(self) -> None:
        """Start a fresh worker with the page's model (after a crash)."""
        if self.model is not None:
            self.load(self.model, self.device, self.options, self.threads, self.model_id)

    def close(self, timeout: float = 10.0) -> None:
        """Stop this page's requests and unload its model."""
        self.cancel()
        with self._lock:
            tickets = list(self._tickets)
        for ticket in tickets:
            try:
                ticket.outcome(timeout)
            except TimeoutError:
                pass
        if self._own_service:
            self.service.close()
        elif self.model is not None:
            self.service.unload(self.engine_id, self.model, self.device)
