"""The Ray actor that hosts one engine on a node: the remote twin of ``app.worker.worker_main``.

It runs the same :class:`app.engine_host.EngineHost` on a serving thread; requests arrive through
:meth:`EngineActor.submit`, cancels through :meth:`EngineActor.cancel` (a threaded actor, so both are seen
while the engine is busy), and events go back in batches through the long-polling :meth:`EngineActor.poll`.
Model files that the node lacks arrive through :mod:`app.cluster.model_transfer` methods.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Mapping
from typing import Any

from app.cluster.model_transfer import NodeModelStore
from app.messages import Event, Load, Run
from core.thread_env import apply_worker_environment

MAX_BATCH = 512  # events per poll answer: bounded so one answer never grows without limit


class EngineActor:
    """One engine instance on a node (decorated with ``ray.remote`` by the client, at run time)."""

    def __init__(self, engine_class: str, env: Mapping[str, str]) -> None:
        # Ray set these through runtime_env before this process imported anything heavy; kept here too so
        # an engine that reads os.environ at load time sees the client's thread settings.
        apply_worker_environment(env)
        from app.engine_host import EngineHost

        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._work: queue.Queue[Load | Run | None] = queue.Queue()
        self._flags: dict[str, threading.Event] = {}
        self._flags_lock = threading.Lock()
        self._closed = False
        self._host = EngineHost(engine_class, self._push)
        self._models = NodeModelStore()
        self._thread = threading.Thread(target=self._serve, name="engine-actor", daemon=True)
        self._thread.start()

    # --- requests and events ------------------------------------------------------------------
    def _push(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def _flag(self, request_id: str) -> threading.Event:
        with self._flags_lock:
            return self._flags.setdefault(request_id, threading.Event())

    def _serve(self) -> None:
        try:
            while True:
                request = self._work.get()
                if request is None:
                    return
                self._host.execute(request, self._flag(request.request_id))
                with self._flags_lock:
                    self._flags.pop(request.request_id, None)
        finally:
            self._host.unload()
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def submit(self, request: Load | Run) -> None:
        """Queue a request (served one at a time, in the order submitted)."""
        self._work.put(request)

    def cancel(self, request_id: str) -> None:
        """Ask a queued or running request to stop at its next check."""
        self._flag(request_id).set()

    def poll(self, timeout: float) -> tuple[list[Event], bool]:
        """Events since the last poll (waiting up to ``timeout`` s for the first); and whether it closed."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._events) or self._closed, timeout)
            batch, self._events = self._events[:MAX_BATCH], self._events[MAX_BATCH:]
            return batch, self._closed and not self._events

    def shutdown(self) -> None:
        """Unload after the current request and stop serving."""
        self._work.put(None)

    def describe(self) -> dict[str, Any]:
        """Where this actor runs: host name and process id on its node."""
        return {"hostname": socket.gethostname(), "pid": os.getpid()}

    # --- models -------------------------------------------------------------------------------
    def find_model(self, manifest: Mapping[str, Any]) -> str | None:
        """A node path holding exactly the files of ``manifest`` (same sizes and sha256), or None."""
        return self._models.find(manifest)

    def begin_transfer(self, manifest: Mapping[str, Any]) -> str:
        """Prepare to receive the files of ``manifest``; returns the transfer id."""
        return self._models.begin(manifest)

    def write_chunk(self, transfer_id: str, relative: str, offset: int, data: bytes) -> None:
        """Write one chunk of one file of a transfer."""
        self._models.write(transfer_id, relative, offset, data)

    def finish_transfer(self, transfer_id: str) -> str:
        """Verify every file's sha256 and move them into the node's model cache; returns the node path."""
        return self._models.finish(transfer_id)
