"""One slot: a worker for one (engine, model, device), its queue, and the thread that serves it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import EngineDeadError, RequestCancelledError, RequestFailed
from app.messages import Progress
from app.recording import RunOutcome, RunStatus, run_recorded, run_unrecorded
from app.service.events import Finished, Loaded, Loading, Queued, SlotChanged
from app.service.keys import LoadSpec, SlotKey
from app.service.tickets import Ticket

if TYPE_CHECKING:
    from app.history import History
    from app.supervisor import EngineClient

ClientFactory = Callable[[str, str, int | None], "EngineClient"]

# Before a model is loaded its memory is guessed from its file; llama.cpp and torch add buffers on top.
_LOAD_OVERHEAD = 1.2


class Slot:
    """Serves its queue in order (or ``concurrency`` requests at once where the engine allows it)."""

    def __init__(self, key: SlotKey, *, factory: ClientFactory, history: History | None, queue_limit: int,
                 concurrency: int, notify: Callable[[Slot], None],
                 make_room: Callable[[Slot, int], None]) -> None:
        self.key = key
        self._factory, self._history, self._notify, self._make_room = factory, history, notify, make_room
        self.queue_limit = queue_limit
        self.client: EngineClient | None = None
        self.loaded_spec: LoadSpec | None = None
        self.info: dict[str, Any] = {}
        self.state = "empty"  # empty | loading | ready | crashed | closed
        self.reason = ""  # why the last crash or load failure happened
        self.memory_bytes = 0
        self.last_used = time.monotonic()
        self._queue: deque[Ticket] = deque()
        self._running: list[Ticket] = []
        self._cond = threading.Condition()
        self._load_lock = threading.Lock()
        self._closing = False
        self._threads = [threading.Thread(target=self._serve, name=f"slot-{key.engine}-{index}", daemon=True)
                         for index in range(max(1, concurrency))]
        for thread in self._threads:
            thread.start()

    def ensure_runners(self, concurrency: int) -> None:
        """Serve up to ``concurrency`` requests at once from now on (runners are added, never removed)."""
        with self._cond:
            if self._closing:
                return
            while len(self._threads) < concurrency:
                thread = threading.Thread(target=self._serve, name=f"slot-{self.key.engine}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    # --- state -------------------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """Requests waiting."""
        return len(self._queue)

    @property
    def running(self) -> int:
        """Requests being served."""
        return len(self._running)

    @property
    def idle(self) -> bool:
        """Nothing queued or running, and not loading."""
        with self._cond:
            return not self._queue and not self._running and self.state != "loading"

    @property
    def loaded(self) -> bool:
        """A worker holds the model."""
        return self.state == "ready" and self.client is not None and self.client.alive

    def changed(self) -> SlotChanged:
        """The slot's state as an event."""
        info = dict(self.info)
        if self.reason:
            info["reason"] = self.reason
        return SlotChanged(str(self.key), self.state, self.queued, self.running, info)

    def estimate_bytes(self) -> int:
        """Memory the model will take once loaded: measured when it was, else its file size plus buffers."""
        if self.memory_bytes:
            return self.memory_bytes
        path = Path(self.key.model)
        try:
            size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*")
                                                                   if p.is_file())
        except OSError:
            return 0
        return int(size * _LOAD_OVERHEAD)

    # --- queue -------------------------------------------------------------------------------------
    def enqueue(self, ticket: Ticket, *, front: bool = False) -> bool:
        """Add a request (``front``: before the waiting ones); False when the queue is full."""
        with self._cond:
            if self._closing:
                raise RuntimeError("this model slot is closed")
            if len(self._queue) >= self.queue_limit:
                return False
            ticket._on_cancel = self._drop
            if front:
                self._queue.appendleft(ticket)
            else:
                self._queue.append(ticket)
            ahead = self._queue.index(ticket) + len(self._running)
            self._cond.notify()
        if ahead:
            ticket.ahead = ahead
            ticket.deliver(Queued(ticket.id, ahead))
        if front:
            self._announce_positions()
        self._notify(self)
        return True

    def _drop(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket not in self._queue:
                return  # already taken by a runner: it sees ``cancelled`` before it starts
            self._queue.remove(ticket)
        self._finish(ticket, RunOutcome("", RunStatus.CANCELLED, error="cancelled before it started"))
        self._announce_positions()

    def _announce_positions(self) -> None:
        with self._cond:
            waiting = list(self._queue)
            base = len(self._running)
        for index, ticket in enumerate(waiting):
            if ticket.ahead != base + index:
                ticket.ahead = base + index
                ticket.deliver(Queued(ticket.id, base + index))
        self._notify(self)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                ticket = self._queue.popleft()
                self._running.append(ticket)
            self._announce_positions()
            try:
                self._process(ticket)
            except Exception as exc:  # a bug here must not leave the caller waiting forever
                self._finish(ticket, RunOutcome("", RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                                                error_kind="internal"))
            finally:
                with self._cond:
                    self._running.remove(ticket)
                    self.last_used = time.monotonic()
                    self._cond.notify_all()
                self._notify(self)

    def _finish(self, ticket: Ticket, outcome: RunOutcome) -> None:
        outcome.op = outcome.op or ticket.op or "load"
        ticket.deliver(Finished(ticket.id, outcome))

    # --- serving ------------------------------------------------------------------------------------
    def _process(self, ticket: Ticket) -> None:
        if ticket.cancelled:
            self._finish(ticket, RunOutcome("", RunStatus.CANCELLED, error="cancelled before it started"))
            return
        ticket.state = "loading"
        failure = self._ensure_loaded(ticket)
        if failure is not None:
            self._finish(ticket, failure)
            return
        if ticket.is_load:
            self._finish(ticket, RunOutcome("", RunStatus.OK, result=dict(self.info), phase="load"))
            return
        if ticket.cancelled:
            self._finish(ticket, RunOutcome("", RunStatus.CANCELLED, error="cancelled before it started"))
            return
        ticket.state = "running"
        assert self.client is not None and ticket.op is not None
        if ticket.record and self._history is not None:
            outcome = run_recorded(self.client, ticket.op, ticket.params, history=self._history,
                                   engine=self.key.engine, model_id=ticket.model_id or self.key.model,
                                   device=self.key.device, on_event=ticket.deliver,
                                   on_start=lambda _run_id, handle: ticket.attach(handle), tags=ticket.tags)
        else:
            outcome = run_unrecorded(self.client, ticket.op, ticket.params, on_event=ticket.deliver,
                                     on_start=ticket.attach)
        ticket.attach(None)
        if outcome.status == RunStatus.CRASHED:
            self.state, self.reason = "crashed", outcome.error or "the engine worker died"
            self._notify(self)
        self._finish(ticket, outcome)

    def _ensure_loaded(self, ticket: Ticket) -> RunOutcome | None:
        with self._load_lock:
            client = self.client
            new_process = (client is None or not client.alive or self.state == "crashed"
                           or (self.loaded_spec is not None and self.loaded_spec.threads != ticket.load.threads))
            if not new_process and self.state == "ready" and ticket.load.same_as(self.loaded_spec):
                return None
            if client is not None and not client.alive and self.state == "ready":
                # The worker died between requests: nobody was waiting to hear it, so say it now.
                self.state, self.reason = "crashed", _exit_words(client)
                self._notify(self)
                ticket.deliver(Loading(ticket.id, -1.0, f"the engine worker had stopped ({self.reason}); "
                                                        "starting a new one"))
            if self._running_others(ticket):
                # Reloading under requests that are still running would change their model mid-answer.
                self._wait_alone(ticket)
            self.state = "loading"
            self._notify(self)
            self._make_room(self, self.estimate_bytes())
            try:
                if new_process:
                    ticket.deliver(Loading(ticket.id, -1.0, "starting the engine worker"))
                    if client is not None:
                        with contextlib.suppress(Exception):
                            client.close()
                    client = self.client = self._factory(self.key.engine, self.key.device, ticket.load.threads)
                assert client is not None
                handle = client.submit_load(self.key.model, self.key.device, dict(ticket.load.options))
                ticket.attach(handle)
                for event in handle.events():
                    if isinstance(event, Progress):
                        fraction = event.done / event.total if event.total else -1.0
                        ticket.deliver(Loading(ticket.id, fraction, event.message))
                info = dict(handle.result())
            except RequestFailed as exc:
                return self._load_failed("failed", exc.message, exc.kind)
            except RequestCancelledError:
                return self._load_failed("cancelled", "cancelled while loading", "cancelled")
            except EngineDeadError as exc:
                return self._load_failed("crashed", exc.message, "crashed")
            finally:
                ticket.attach(None)
            client.model_info = info
            self.info, self.loaded_spec, self.state, self.reason = info, ticket.load, "ready", ""
            self.memory_bytes = _rss(client.pid) or self.estimate_bytes()
            self.last_used = time.monotonic()
        ticket.deliver(Loaded(ticket.id, info))
        self._notify(self)
        return None

    def _load_failed(self, status: str, message: str, kind: str) -> RunOutcome:
        self.info, self.loaded_spec = {}, None
        self.state = "crashed" if status == "crashed" else "empty"
        self.reason = message
        self._notify(self)
        return RunOutcome("", RunStatus(status), error=message, error_kind=kind, phase="load")

    def _running_others(self, ticket: Ticket) -> bool:
        # Only requests inside the engine count: others taken by a runner wait for the load lock held here.
        with self._cond:
            return any(t is not ticket and t.state == "running" for t in self._running)

    def _wait_alone(self, ticket: Ticket) -> None:
        with self._cond:
            while any(t is not ticket and t.state == "running" for t in self._running):
                self._cond.wait(0.1)

    # --- end ----------------------------------------------------------------------------------------
    def close(self, reason: str = "the model was unloaded") -> None:
        """Drop queued requests, stop running ones, close the worker and the serving threads."""
        with self._cond:
            self._closing = True
            dropped = list(self._queue)
            self._queue.clear()
            running = list(self._running)
            self._cond.notify_all()
        for ticket in dropped:
            self._finish(ticket, RunOutcome("", RunStatus.CANCELLED, error=reason))
        for ticket in running:
            ticket.cancel()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(30)
        with self._load_lock:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close()
            self.client, self.info, self.loaded_spec, self.memory_bytes = None, {}, None, 0
            self.state = "closed"
        self._notify(self)


def _exit_words(client: EngineClient) -> str:
    from app.errors import describe_exit

    process = getattr(client, "_process", None)
    exitcode = getattr(process, "exitcode", None) if process is not None else None
    return describe_exit(exitcode)[1]


def _rss(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:
        return 0
