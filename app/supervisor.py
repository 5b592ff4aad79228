"""Clients that host an engine: one worker process per loaded model, or in-process for tests.

Both clients have the same interface: ``load``, ``submit`` (returns a :class:`RequestHandle` whose events
stream in), ``call``, ``cancel``, ``restart`` and ``close``.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

from app.discovery import get_spec
from app.errors import EngineDeadError, describe_exit, raise_for
from app.messages import Cancel, Cancelled, EngineDead, Event, Failed, Load, Run, Shutdown, is_final
from app.model_refs import UnknownModel, resolve_for_load
from app.stopped_worker import StoppedWorkerWatch
from app.worker_log import worker_log_path
from core.thread_env import worker_environment
from engines.base import EngineSpec

CANCEL_GRACE_S = 5.0
_ids = itertools.count(1)


def new_request_id(prefix: str = "r") -> str:
    """A request id unique within this process (and readable in logs)."""
    return f"{prefix}{next(_ids)}-{uuid.uuid4().hex[:8]}"


class RequestHandle:
    """One submitted request: iterate its events, wait for its result, or cancel it."""

    def __init__(self, request_id: str, client: EngineClient) -> None:
        self.request_id = request_id
        self._client = client
        self._events: queue.Queue[Event] = queue.Queue()
        self._final: Event | None = None
        self._done = threading.Event()

    def _deliver(self, event: Event) -> None:
        if self._done.is_set():
            return
        self._events.put(event)
        if is_final(event):
            self._final = event
            self._done.set()

    @property
    def done(self) -> bool:
        """True once the final event arrived."""
        return self._done.is_set()

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Yield events up to and including the final one; ``timeout`` bounds each wait."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no event from request {self.request_id} within {timeout} s") from None
            yield event
            if is_final(event):
                return

    def wait(self, timeout: float | None = None) -> Event:
        """Block until the final event and return it (events are still available to ``events``)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"request {self.request_id} did not finish within {timeout} s")
        assert self._final is not None
        return self._final

    def result(self, timeout: float | None = None) -> Mapping[str, Any]:
        """The result data, or the matching exception from :mod:`app.errors`."""
        return raise_for(self.wait(timeout))

    def cancel(self) -> None:
        """Ask the engine to stop this request at its next check."""
        self._client.cancel(self.request_id)


class EngineClient:
    """Common behaviour of both clients: request bookkeeping and the convenience calls."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self._handles: dict[str, RequestHandle] = {}
        self._handles_lock = threading.Lock()
        self._last_load: Load | None = None
        self.model_info: Mapping[str, Any] = {}

    # --- to implement -------------------------------------------------------------------------
    def _send(self, message: Load | Run | Cancel | Shutdown) -> None:
        raise NotImplementedError

    def cancel(self, request_id: str) -> None:
        """Ask a request to stop."""
        raise NotImplementedError

    def restart(self) -> None:
        """Start afresh and reload the last loaded model."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the engine and release everything."""
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        """Whether requests can be served."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The worker's process id (None in-process)."""
        return None

    # --- shared -------------------------------------------------------------------------------
    def _register(self, request_id: str) -> RequestHandle:
        handle = RequestHandle(request_id, self)
        with self._handles_lock:
            self._handles[request_id] = handle
        return handle

    def _dispatch(self, event: Event) -> None:
        with self._handles_lock:
            handle = self._handles.get(event.request_id)
            if handle is not None and is_final(event):
                del self._handles[event.request_id]
        if handle is not None:
            handle._deliver(event)
        if is_final(event):
            self._finished(event.request_id)

    def _finished(self, request_id: str) -> None:
        """Hook: a request got its final event."""

    def _fail_pending(self, make: Callable[[str], Event]) -> None:
        with self._handles_lock:
            pending = list(self._handles.items())
            self._handles.clear()
        for rid, handle in pending:
            handle._deliver(make(rid))
            self._finished(rid)

    def submit_load(self, model: str, device: str = "cpu", options: Mapping[str, Any] | None = None) -> RequestHandle:
        """Start loading a model; the handle streams load progress."""
        request_id = new_request_id("load")
        try:
            model = resolve_for_load(str(model), self.spec.kind.value)
        except UnknownModel as exc:
            handle = self._register(request_id)
            self._dispatch(Failed(request_id, "not_found", str(exc)))
            return handle
        message = Load(request_id, model, device, dict(options or {}))
        self._last_load = message
        handle = self._register(message.request_id)
        self._send(message)
        return handle

    def load(self, model: str, device: str = "cpu", options: Mapping[str, Any] | None = None,
             timeout: float | None = None) -> Mapping[str, Any]:
        """Load a model and return what the engine reports about it."""
        self.model_info = self.submit_load(model, device, options).result(timeout)
        return self.model_info

    def submit(self, op: str, params: Mapping[str, Any] | None = None) -> RequestHandle:
        """Start an operation on the loaded model."""
        message = Run(new_request_id(op), op, dict(params or {}))
        handle = self._register(message.request_id)
        self._send(message)
        return handle

    def call(self, op: str, params: Mapping[str, Any] | None = None,
             on_event: Callable[[Event], None] | None = None, timeout: float | None = None) -> Mapping[str, Any]:
        """Run an operation to completion, passing each event to ``on_event``."""
        handle = self.submit(op, params)
        for event in handle.events(timeout):
            if on_event is not None:
                on_event(event)
        return handle.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class KillableClient(EngineClient):
    """A client whose engine runs apart (a process, a cluster actor): a cancel it ignores past the grace
    period kills it, and restart/close stop it and start it again."""

    def __init__(self, spec: EngineSpec, cancel_grace_s: float) -> None:
        super().__init__(spec)
        self._grace = cancel_grace_s
        self._closing = False
        self._killed_for_cancel: set[str] = set()
        self._cancel_timers: dict[str, threading.Timer] = {}

    # --- to implement -------------------------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self, timeout: float) -> None:
        raise NotImplementedError

    def _ask_to_cancel(self, request_id: str) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        """End the engine at once (it cannot be asked nicely any more)."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------
    def cancel(self, request_id: str) -> None:
        """Ask the request to stop; kill the engine if it has not stopped after the grace period."""
        with self._handles_lock:
            if request_id not in self._handles or request_id in self._cancel_timers:
                return
            timer = threading.Timer(self._grace, self._kill_if_pending, args=(request_id,))
            timer.daemon = True
            self._cancel_timers[request_id] = timer
        self._ask_to_cancel(request_id)
        timer.start()

    def _finished(self, request_id: str) -> None:
        with self._handles_lock:
            timer = self._cancel_timers.pop(request_id, None)
        if timer is not None:
            timer.cancel()

    def _kill_if_pending(self, request_id: str) -> None:
        with self._handles_lock:
            pending = request_id in self._handles
        if pending and self.alive:
            self._killed_for_cancel.add(request_id)
            self.kill()

    def restart(self) -> None:
        """Start the engine afresh and reload the last model, if one was loaded."""
        self._stop(timeout=2.0)
        self._killed_for_cancel.clear()
        self._start()
        if self._last_load is not None:
            last = self._last_load
            self.load(last.model, last.device, last.options)

    def close(self, timeout: float = 5.0) -> None:
        """Ask the engine to exit, then make sure it has."""
        self._stop(timeout)


class WorkerClient(KillableClient):
    """Hosts the engine in its own process, so a crash in native code cannot take the app down."""

    def __init__(self, spec: EngineSpec, *, threads: int | None = None, env: Mapping[str, str] | None = None,
                 cancel_grace_s: float = CANCEL_GRACE_S) -> None:
        super().__init__(spec, cancel_grace_s)
        self._env = worker_environment(threads, env, engine=spec.worker_env)
        self._send_lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None
        self._reader: threading.Thread | None = None
        self._stopped_watch: StoppedWorkerWatch | None = None
        self._stderr_path = ""
        self._start()

    @property
    def threads(self) -> int:
        """The thread count the worker was started with."""
        return int(self._env["OMP_NUM_THREADS"])

    @property
    def stderr_path(self) -> str:
        """The worker's captured stderr/stdout log."""
        return self._stderr_path

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return None if self._process is None else int(self._process.pid)

    @property
    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self._process is not None and self._process.is_alive() and not self._closing

    def _start(self) -> None:
        from app.worker import worker_main

        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self._stderr_path = worker_log_path(self.spec.id)
        process = ctx.Process(
            target=worker_main, name=f"workbench-{self.spec.id}",
            args=(child_conn, self.spec.engine_class, dict(self._env), self._stderr_path), daemon=True,
        )
        with _sigint_ignored():
            process.start()
        child_conn.close()  # so the parent sees EOF when the worker dies
        self._process, self._conn, self._closing = process, parent_conn, False
        self._reader = threading.Thread(target=self._read, args=(process, parent_conn),
                                        name=f"reader-{self.spec.id}", daemon=True)
        self._reader.start()
        assert process.pid is not None  # set by start()
        self._stopped_watch = StoppedWorkerWatch(process.pid, grace_s=self._grace,
                                                 busy=lambda: bool(self._handles), log_path=self._stderr_path).start()

    def _read(self, process: Any, conn: Any) -> None:
        try:
            while True:
                event = conn.recv()
                if isinstance(event, Cancelled) and event.request_id in self._killed_for_cancel:
                    continue
                self._dispatch(event)
        except (EOFError, OSError):
            pass
        process.join(timeout=5)
        if self._closing:
            self._fail_pending(lambda rid: Cancelled(rid, {"closed": True}))
            return
        sig, words = describe_exit(process.exitcode)
        tail = self.stderr_tail()
        message = words if not tail.strip() else f"{words}; last output:\n{tail.strip()[-800:]}"

        def dead(rid: str) -> Event:
            if rid in self._killed_for_cancel:
                return Cancelled(rid, {"killed_after_grace_s": self._grace})
            return EngineDead(rid, process.exitcode, sig, tail, message)

        self._fail_pending(dead)

    def stderr_tail(self, max_bytes: int = 4000) -> str:
        """The last bytes the worker wrote to stderr/stdout."""
        try:
            with open(self._stderr_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _send(self, message: Load | Run | Cancel | Shutdown) -> None:
        if not self.alive:
            sig, words = describe_exit(None if self._process is None else self._process.exitcode)
            if not isinstance(message, Cancel | Shutdown):
                self._dispatch(EngineDead(message.request_id, None if self._process is None
                                          else self._process.exitcode, sig, self.stderr_tail(),
                                          f"{words}; restart it to continue"))
            return
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, EOFError, BrokenPipeError):
            pass  # the reader thread reports the death to every pending request

    def _ask_to_cancel(self, request_id: str) -> None:
        self._send(Cancel(request_id))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the worker process (it cannot be asked nicely any more)."""
        if self._process is not None and self._process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, sig)

    def _stop(self, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        self._closing = True
        if process.is_alive():
            try:
                with self._send_lock:
                    self._conn.send(Shutdown())
            except (OSError, EOFError, BrokenPipeError):
                pass
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(5)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self._stopped_watch is not None:
            self._stopped_watch.stop()
        with contextlib.suppress(OSError):
            self._conn.close()
        process.close()
        self._process = None
        # Most workers never write a line: an empty log is noise in the data folder; one with output is kept.
        with contextlib.suppress(OSError):
            if self._stderr_path and os.path.getsize(self._stderr_path) == 0:
                os.unlink(self._stderr_path)


class InProcessClient(EngineClient):
    """Runs the engine on a background thread of this process: same interface, for tests and debugging."""

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__(spec)
        self._queue: queue.Queue[Load | Run | None] = queue.Queue()
        self._flags: dict[str, threading.Event] = {}
        self._flags_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._host: Any = None
        self._start()

    @classmethod
    def for_engine(cls, engine_id: str) -> InProcessClient:
        """A client for an installed engine."""
        return cls(get_spec(engine_id))

    def _start(self) -> None:
        from app.engine_host import EngineHost

        self._host = EngineHost(self.spec.engine_class, self._dispatch)
        self._thread = threading.Thread(target=self._serve, name=f"inprocess-{self.spec.id}", daemon=True)
        self._thread.start()

    def _flag(self, request_id: str) -> threading.Event:
        with self._flags_lock:
            return self._flags.setdefault(request_id, threading.Event())

    def _serve(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                self._host.unload()
                return
            self._host.execute(request, self._flag(request.request_id))
            with self._flags_lock:
                self._flags.pop(request.request_id, None)

    @property
    def alive(self) -> bool:
        """Whether the serving thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _send(self, message: Load | Run | Cancel | Shutdown) -> None:
        if isinstance(message, Load | Run):
            self._queue.put(message)

    def cancel(self, request_id: str) -> None:
        """Ask a request to stop."""
        self._flag(request_id).set()

    def restart(self) -> None:
        """Start a new host thread and reload the last model."""
        self.close()
        self._start()
        if self._last_load is not None:
            last = self._last_load
            self.load(last.model, last.device, last.options)

    def close(self) -> None:
        """Stop the serving thread after the current request."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    # Ctrl-C in a terminal reaches the whole process group. A child started while SIGINT is ignored
    # keeps ignoring it from its first instruction, so only the app sees it and turns it into a cancel.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_engine(engine_id: str, *, threads: int | None = None, env: Mapping[str, str] | None = None,
                 cancel_grace_s: float = CANCEL_GRACE_S) -> WorkerClient:
    """Start a worker process for an installed engine."""
    return WorkerClient(get_spec(engine_id), threads=threads, env=env, cancel_grace_s=cancel_grace_s)


def wait_all(handles: list[RequestHandle], timeout: float | None = None) -> list[Event]:
    """Wait for several requests; returns their final events in order."""
    deadline = None if timeout is None else time.monotonic() + timeout
    finals = []
    for handle in handles:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        finals.append(handle.wait(remaining))
    return finals


__all__ = ["EngineClient", "EngineDeadError", "InProcessClient", "RequestHandle", "WorkerClient",
           "new_request_id", "start_engine", "wait_all"]
