"""``ModelService``: models used just in time, in worker slots shared by every front end."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.discovery import get_spec
from app.errors import WorkbenchError
from app.service.events import SlotChanged
from app.service.keys import LoadSpec, SlotKey
from app.service.slot import ClientFactory, Slot
from app.service.tickets import Ticket, TicketEvent

if TYPE_CHECKING:
    from app.history import History
    from app.supervisor import EngineClient

DEFAULT_QUEUE_LIMIT = 64


class ServiceBusy(WorkbenchError):
    """A slot's queue is full: the request was refused, not queued."""

    def __init__(self, key: SlotKey, queued: int) -> None:
        super().__init__(f"busy: {queued} requests are already waiting for {key.model} on {key.device}; "
                         "try again when some have finished")
        self.key, self.queued = key, queued


@dataclass(frozen=True, slots=True)
class SlotState:
    """A slot as status displays show it."""

    key: SlotKey
    state: str
    queued: int
    running: int
    memory_bytes: int
    idle_s: float
    info: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


def start_local_worker(engine_id: str, device: str, threads: int | None) -> EngineClient:
    """The default client factory: a worker process on this machine (or a remote one for ``NODE/…`` ids)."""
    from app.supervisor import start_engine

    if "/" in device:
        with contextlib.suppress(ImportError):
            from app.cluster.remote_client import is_remote_device, start_remote_engine

            if is_remote_device(device):
                return start_remote_engine(engine_id, device, threads=threads)
    return start_engine(engine_id, threads=threads)


def declared_parallel(key: SlotKey, spec: LoadSpec) -> int:
    """Requests a slot runs at once by default: the load option its engine's spec names (else 1)."""
    name = get_spec(key.engine).parallel_option
    value = spec.options.get(name) if name else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return 1
    try:
        return max(1, int(value))
    except ValueError:
        return 1  # the engine refuses the option itself, with its own message, at load


class ModelService:
    """Owns the model slots; ``submit`` queues a request, loading its model first when needed."""

    def __init__(self, history: History | None = None, *, client_factory: ClientFactory | None = None,
                 queue_limit: int = DEFAULT_QUEUE_LIMIT, ttl_s: float | None = None,
                 memory_budget_bytes: int | None = None, parallel: Callable[[SlotKey, LoadSpec], int] | None = None,
                 ) -> None:
        self.history = history
        self._factory = client_factory or start_local_worker
        self.queue_limit = queue_limit
        self.ttl_s = ttl_s
        self.memory_budget_bytes = memory_budget_bytes
        self._parallel = parallel or declared_parallel
        self._slots: dict[SlotKey, Slot] = {}
        self._lock = threading.RLock()
        self._listeners: list[Callable[[SlotChanged], None]] = []
        self._closed = False
        self._janitor_stop = threading.Event()
        self._janitor: threading.Thread | None = None
        if ttl_s is not None:
            self._janitor = threading.Thread(target=self._unload_idle_loop, name="service-ttl", daemon=True)
            self._janitor.start()

    # --- requests -----------------------------------------------------------------------------------
    def submit(self, engine: str, model: str, op: str, params: Mapping[str, Any] | None = None, *,
               device: str = "cpu", options: Mapping[str, Any] | None = None, threads: int | None = None,
               record: bool = True, model_id: str | None = None, tags: tuple[str, ...] = (),
               on_event: Callable[[TicketEvent], None] | None = None, front: bool = False) -> Ticket:
        """Queue ``op`` on ``model`` (``front``: ahead of the waiting ones); raises :class:`ServiceBusy` when full."""
        return self._enqueue(engine, model, device, op, params or {}, options, threads, record, model_id, tags,
                             on_event, front)

    def load(self, engine: str, model: str, *, device: str = "cpu", options: Mapping[str, Any] | None = None,
             threads: int | None = None, on_event: Callable[[TicketEvent], None] | None = None) -> Ticket:
        """Load ``model`` now (it would load on first use anyway); the outcome's result is the model info."""
        return self._enqueue(engine, model, device, None, {}, options, threads, False, None, (), on_event, False)

    def _enqueue(self, engine: str, model: str, device: str, op: str | None, params: Mapping[str, Any],
                 options: Mapping[str, Any] | None, threads: int | None, record: bool, model_id: str | None,
                 tags: tuple[str, ...], on_event: Callable[[TicketEvent], None] | None, front: bool) -> Ticket:
        key = SlotKey(engine, str(model), device)
        spec = LoadSpec(dict(options or {}), threads)
        ticket = Ticket(key, spec, op, params, record=record, model_id=model_id, tags=tags, on_event=on_event)
        slot = self._slot(key, spec)
        if not slot.enqueue(ticket, front=front):
            raise ServiceBusy(key, slot.queued)
        return ticket

    def _slot(self, key: SlotKey, spec: LoadSpec) -> Slot:
        with self._lock:
            if self._closed:
                raise RuntimeError("the model service is closed")
            slot = self._slots.get(key)
            if slot is None:
                get_spec(key.engine)  # an unknown engine fails here, not in a worker
                concurrency = self._parallel(key, spec)
                slot = Slot(key, factory=self._factory, history=self.history, queue_limit=self.queue_limit,
                            concurrency=concurrency, notify=self._changed, make_room=self._make_room)
                self._slots[key] = slot
            else:
                slot.ensure_runners(self._parallel(key, spec))  # a reload with a larger ``parallel``
            return slot

    # --- state --------------------------------------------------------------------------------------
    def slots(self) -> list[SlotState]:
        """Every slot, oldest first."""
        now = time.monotonic()
        with self._lock:
            slots = list(self._slots.values())
        return [SlotState(s.key, s.state, s.queued, s.running, s.memory_bytes, now - s.last_used, dict(s.info),
                          s.reason) for s in slots]

    def slot(self, engine: str, model: str, device: str = "cpu") -> SlotState | None:
        """The slot for that model, if there is one."""
        key = SlotKey(engine, str(model), device)
        return next((s for s in self.slots() if s.key == key), None)

    def client(self, engine: str, model: str, device: str = "cpu") -> EngineClient | None:
        """The worker client of a loaded slot (for tools that talk to it directly, like the comparison)."""
        with self._lock:
            slot = self._slots.get(SlotKey(engine, str(model), device))
        return slot.client if slot is not None and slot.loaded else None

    def subscribe(self, callback: Callable[[SlotChanged], None]) -> Callable[[], None]:
        """Call ``callback`` whenever a slot changes; returns a function that stops it."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)
        return unsubscribe

    def _changed(self, slot: Slot) -> None:
        with self._lock:
            listeners = list(self._listeners)
        event = slot.changed()
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener(event)

    # --- memory -------------------------------------------------------------------------------------
    def budget_bytes(self) -> int:
        """The memory the loaded models may take: the set budget, else what is free now plus what they hold."""
        if self.memory_budget_bytes is not None:
            return self.memory_budget_bytes
        from core.memory_fit import available_memory

        with self._lock:
            held = sum(s.memory_bytes for s in self._slots.values() if s.loaded)
        return available_memory()[0] + held

    def _make_room(self, incoming: Slot, need: int) -> None:
        # Least recently used idle slots go first, like Ollama's max-loaded-models eviction.
        budget = self.budget_bytes()
        while True:
            with self._lock:
                others = [s for s in self._slots.values() if s is not incoming and s.loaded]
                held = sum(s.memory_bytes for s in others)
                idle = sorted((s for s in others if s.idle), key=lambda s: s.last_used)
            if held + need <= budget or not idle:
                return
            self._evict(idle[0], f"unloaded to make room for {incoming.key.model}")

    def _evict(self, slot: Slot, reason: str) -> None:
        with self._lock:
            if self._slots.get(slot.key) is slot:
                del self._slots[slot.key]
        slot.reason = reason
        slot.close(reason)

    def unload(self, engine: str | None = None, model: str | None = None, device: str | None = None) -> int:
        """Unload the matching slots (all when nothing is named); returns how many."""
        with self._lock:
            chosen = [s for s in self._slots.values()
                      if (engine is None or s.key.engine == engine) and (model is None or s.key.model == str(model))
                      and (device is None or s.key.device == device)]
        for slot in chosen:
            self._evict(slot, "unloaded")
        return len(chosen)

    def _unload_idle_loop(self) -> None:
        assert self.ttl_s is not None
        period = min(max(self.ttl_s / 4, 0.05), 5.0)
        while not self._janitor_stop.wait(period):
            self.unload_expired()

    def unload_expired(self) -> int:
        """Unload slots idle for longer than the TTL; returns how many."""
        if self.ttl_s is None:
            return 0
        now = time.monotonic()
        with self._lock:
            expired = [s for s in self._slots.values() if s.idle and now - s.last_used > self.ttl_s]
        for slot in expired:
            self._evict(slot, f"unloaded after {self.ttl_s:g} s idle")
        return len(expired)

    # --- end ----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel everything and close every worker."""
        with self._lock:
            self._closed = True
            slots = list(self._slots.values())
            self._slots.clear()
        self._janitor_stop.set()
        if self._janitor is not None:
            self._janitor.join(10)
        for slot in slots:
            slot.close("the workbench is closing")

    def __enter__(self) -> ModelService:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
