"""Runs requests against one engine instance and turns everything that happens into events.

Shared by the worker process (``app.worker``) and the in-process client, so both behave the same.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from app.discovery import load_engine_class
from app.messages import (
    Cancelled,
    Event,
    Failed,
    Load,
    Partial,
    Progress,
    Result,
    Run,
    Sample,
    Started,
)
from engines.base import Engine, EngineError, ErrorKind, RunCancelled

_PROGRESS_INTERVAL_S = 0.05


class HostContext:
    """The :class:`engines.base.RunContext` handed to an engine for one request."""

    def __init__(self, request_id: str, send: Callable[[Event], None], cancel_flag: threading.Event) -> None:
        self._request_id = request_id
        self._send = send
        self._cancel = cancel_flag
        self._last_progress = 0.0

    @property
    def request_id(self) -> str:
        """The request this context reports for."""
        return self._request_id

    def cancel_requested(self) -> bool:
        """True once a cancel arrived."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise RunCancelled once a cancel arrived."""
        if self._cancel.is_set():
            raise RunCancelled()

    def partial(self, data: Mapping[str, Any]) -> None:
        """Send a piece of output."""
        self._send(Partial(self._request_id, data))

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Send progress, at most every 50 ms except the final step."""
        now = time.perf_counter()
        finished = total is not None and done >= total
        if not finished and now - self._last_progress < _PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._send(Progress(self._request_id, float(done), None if total is None else float(total), message))

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        """Send one time-series point."""
        self._send(Sample(self._request_id, series, float(value), time.perf_counter() if t is None else t))


class EngineHost:
    """Owns the engine instance of one worker and executes Load and Run requests."""

    def __init__(self, engine_class: str, send: Callable[[Event], None]) -> None:
        self._engine_class = engine_class
        self._send = send
        self._engine: Engine | None = None

    def execute(self, request: Load | Run, cancel_flag: threading.Event) -> None:
        """Run one request to its final event (Result, Failed or Cancelled)."""
        rid = request.request_id
        self._send(Started(rid, time.perf_counter()))
        ctx = HostContext(rid, self._send, cancel_flag)
        try:
            if cancel_flag.is_set():
                raise RunCancelled()
            if isinstance(request, Load):
                data = self._load(request, ctx)
            else:
                if self._engine is None:
                    raise EngineError(ErrorKind.BAD_INPUT, "no model is loaded in this worker")
                data = self._engine.run(request.op, request.params, ctx)
        except RunCancelled as exc:
            # An engine may raise RunCancelled(summary) so what was done before the cancel is kept.
            data = exc.args[0] if exc.args and isinstance(exc.args[0], Mapping) else {}
            self._send(Cancelled(rid, dict(data)))
        except EngineError as exc:
            self._send(Failed(rid, exc.kind.value, exc.message, exc.detail))
        except MemoryError:
            self._send(Failed(rid, ErrorKind.OUT_OF_MEMORY.value, "the engine ran out of memory"))
        except Exception as exc:
            self._send(Failed(rid, ErrorKind.INTERNAL.value, f"{type(exc).__name__}: {exc}",
                              traceback.format_exc()))
        else:
            self._send(Result(rid, dict(data)))

    def runs_concurrently(self, request: Load | Run) -> bool:
        """True for a Run whose op the loaded engine serves side by side with others (its ``concurrent_ops``)."""
        if not isinstance(request, Run) or self._engine is None:
            return False
        ops = getattr(self._engine, "concurrent_ops", ())
        return request.op in ops

    def _load(self, request: Load, ctx: HostContext) -> Mapping[str, Any]:
        if self._engine is not None:
            self._engine.unload()
            self._engine = None
        engine_type = load_engine_class(self._engine_class)
        engine = engine_type()
        info = engine.load(request.model, request.device, request.options, ctx)
        self._engine = engine
        return info

    def unload(self) -> None:
        """Free the engine (errors while unloading are irrelevant at exit)."""
        if self._engine is not None:
            try:
                self._engine.unload()
            finally:
                self._engine = None
