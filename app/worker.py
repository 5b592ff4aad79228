"""Entry point of an engine worker process (started with the ``spawn`` context)."""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection

from app.messages import Cancel, Event, Load, Run, Shutdown
from app.parent_watch import start_parent_watch
from core.thread_env import apply_worker_environment
from engines.vision.ort_telemetry import keep_telemetry_off

EXIT_ORPHANED = 3  # exit status of a worker that found its app gone (nobody reads it; it marks the log)


def worker_main(conn: Connection, engine_class: str, env: dict[str, str], stderr_path: str) -> None:
    """Serve requests from ``conn`` until Shutdown or until the parent goes away."""
    # Ctrl-C in a terminal reaches the whole process group; the app decides what to stop, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output(stderr_path)
    # Set before any engine import so OpenMP / BLAS pools start with these settings.
    apply_worker_environment(env)
    keep_telemetry_off()  # ONNX Runtime writes its telemetry files at import unless told not to

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
            # The parent is gone (killed, crashed) or dropped the pipe: nobody will read a result, so stop
            # now rather than when the engine call in progress returns (a long prompt can take minutes).
            _exit_orphaned("the app closed the connection")

    threading.Thread(target=read, name="worker-reader", daemon=True).start()
    start_parent_watch(_exit_orphaned)
    host = EngineHost(engine_class, send)
    concurrent: set[threading.Thread] = set()  # requests of the engine's concurrent_ops, each on its thread

    def serve(request: Load | Run) -> None:
        host.execute(request, flag_for(request.request_id))
        with flags_lock:
            flags.pop(request.request_id, None)

    def wait_concurrent() -> None:
        for thread in list(concurrent):
            thread.join()
        concurrent.clear()

    try:
        while True:
            request = work.get()
            if request is None or isinstance(request, Shutdown):
                break
            for thread in [t for t in concurrent if not t.is_alive()]:
                concurrent.discard(thread)
            if host.runs_concurrently(request):
                thread = threading.Thread(target=serve, args=(request,), name=f"request-{request.request_id}",
                                          daemon=True)
                concurrent.add(thread)
                thread.start()
                continue
            if isinstance(request, Load):
                wait_concurrent()  # a new model must not replace the one running requests decode with
            serve(request)
    finally:
        with flags_lock:
            for flag in flags.values():
                flag.set()  # shutting down: running requests stop at their next token and report so
        wait_concurrent()
        host.unload()
        try:
            conn.close()
        except OSError:
            pass


def _exit_orphaned(why: str) -> None:
    sys.stderr.write(f"workbench worker {os.getpid()}: {why}; exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_ORPHANED)


def _redirect_output(path: str) -> None:
    # Native libraries (llama.cpp, ONNX Runtime) write to fd 2 directly: capture it for crash reports.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
