"""Entry point of an engine worker process (started with the ``spawn`` context)."""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection

from app.messages import Cancel, Event, Load, Run, Shutdown


def worker_main(conn: Connection, engine_class: str, env: dict[str, str], stderr_path: str) -> None:
    """Serve requests from ``conn`` until Shutdown or until the parent goes away."""
    # Ctrl-C in a terminal reaches the whole process group; the app decides what to stop, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output(stderr_path)
    # Set before any engine import so OpenMP / BLAS pools start with these settings.
    os.environ.update(env)

    from app.engine_host import EngineHost

    send_lock = threading.Lock()

    def send(event: Event) -> None:
        with send_lock:
            conn.send(event)

    work: queue.Queue[Load | Run | Shutdown | None] = queue.Queue()
    flags: dict[str, threading.Event] = {}
    flags_lock = threading.Lock()

    def flag_for(request_id: str) -> threading.Event:
        with flags_lock:
            return flags.setdefault(request_id, threading.Event())

    def read() -> None:
        # Cancels must be seen while the main thread is busy inside the engine, so reading is separate.
        try:
            while True:
                message = conn.recv()
                if isinstance(message, Cancel):
                    flag_for(message.request_id).set()
                else:
                    work.put(message)
                    if isinstance(message, Shutdown):
                        return
        except (EOFError, OSError):
            work.put(None)  # the parent is gone

    threading.Thread(target=read, name="worker-reader", daemon=True).start()
    host = EngineHost(engine_class, send)
    try:
        while True:
            request = work.get()
            if request is None or isinstance(request, Shutdown):
                break
            host.execute(request, flag_for(request.request_id))
            with flags_lock:
                flags.pop(request.request_id, None)
    finally:
        host.unload()
        try:
            conn.close()
        except OSError:
            pass


def _redirect_output(path: str) -> None:
    # Native libraries (llama.cpp, ONNX Runtime) write to fd 2 directly: capture it for crash reports.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
