"""A request given to the service: its events as they come, its outcome, and cancel."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from app.messages import Event, Partial
from app.service.events import Finished, ServiceEvent
from app.service.keys import LoadSpec, SlotKey

if TYPE_CHECKING:
    from app.recording import RunOutcome
    from app.supervisor import RequestHandle

_ids = itertools.count(1)

TicketEvent = Event | ServiceEvent


class Ticket:
    """One request: ``events()`` streams engine and service events up to :class:`Finished`."""

    def __init__(self, key: SlotKey, load: LoadSpec, op: str | None, params: Mapping[str, Any], *,
                 record: bool = True, model_id: str | None = None, tags: tuple[str, ...] = (),
                 on_event: Callable[[TicketEvent], None] | None = None) -> None:
        self.id = f"t{next(_ids)}"
        self.key, self.load, self.op, self.params = key, load, op, dict(params)
        self.record, self.model_id, self.tags = record, model_id, tags
        self._listeners: list[Callable[[TicketEvent], None]] = [on_event] if on_event else []
        self._events: queue.Queue[TicketEvent] = queue.Queue()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._outcome: RunOutcome | None = None
        self._cancelled = False
        self._handle: RequestHandle | None = None
        self._on_cancel: Callable[[Ticket], None] | None = None
        self.partials: list[Mapping[str, Any]] = []  # every piece of output delivered so far
        self.state = "queued"  # queued | loading | running | done
        self.ahead = 0  # requests before this one in its slot (running ones included) while it waits

    @property
    def is_load(self) -> bool:
        """True for a ticket that only loads the model."""
        return self.op is None

    @property
    def done(self) -> bool:
        """True once the outcome is known."""
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        """True once cancel was asked."""
        return self._cancelled

    def add_listener(self, callback: Callable[[TicketEvent], None]) -> None:
        """Call ``callback`` with every later event (on the service's thread)."""
        with self._lock:
            self._listeners.append(callback)

    def deliver(self, event: TicketEvent) -> None:
        """Hand an event to the listeners and the ``events()`` stream (the service calls this)."""
        if self._done.is_set():
            return
        if isinstance(event, Partial):
            self.partials.append(event.data)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        self._events.put(event)
        if isinstance(event, Finished):
            self._outcome = event.outcome
            self.state = "done"
            self._done.set()

    def attach(self, handle: RequestHandle | None) -> None:
        """The engine request now running for this ticket (cancel goes to it)."""
        self._handle = handle
        if handle is not None and self._cancelled:
            handle.cancel()

    def events(self, timeout: float | None = None) -> Iterator[TicketEvent]:
        """Yield events up to and including :class:`Finished`; ``timeout`` bounds each wait."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no event for request {self.id} within {timeout} s") from None
            yield event
            if isinstance(event, Finished):
                return

    def outcome(self, timeout: float | None = None) -> RunOutcome:
        """Wait for the end and return how the request went."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"request {self.id} did not finish within {timeout} s")
        assert self._outcome is not None
        return self._outcome

    def cancel(self) -> None:
        """Stop the request: a queued one is dropped, a running one is asked to stop."""
        with self._lock:
            if self._cancelled or self._done.is_set():
                return
            self._cancelled = True
            handle, on_cancel = self._handle, self._on_cancel
        if handle is not None:
            handle.cancel()
        elif on_cancel is not None:
            on_cancel(self)
