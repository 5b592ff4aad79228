"""The one place where worker events become Python exceptions for callers."""

from __future__ import annotations

import signal as signal_module
from collections.abc import Mapping
from typing import Any

from app.messages import Cancelled, EngineDead, Event, Failed, Result


class WorkbenchError(Exception):
    """Base of every error the app reports to a user."""


class RequestFailed(WorkbenchError):
    """The engine reported an error (bad input, unsupported, out of memory, a bug...)."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail


class RequestCancelledError(WorkbenchError):
    """The request was cancelled; ``data`` holds the partial result the engine returned."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__("cancelled")
        self.data: Mapping[str, Any] = data or {}


class EngineDeadError(WorkbenchError):
    """The worker process died; carries its exit code or signal and the end of its stderr."""

    def __init__(self, message: str, exitcode: int | None, signal: int | None, stderr_tail: str) -> None:
        super().__init__(message)
        self.message = message
        self.exitcode = exitcode
        self.signal = signal
        self.stderr_tail = stderr_tail


def describe_exit(exitcode: int | None) -> tuple[int | None, str]:
    """Turn a multiprocessing exit code into (signal number, human words)."""
    if exitcode is None:
        return None, "the worker stopped answering"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal_module.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        reason = {
            "SIGSEGV": "crashed (segmentation fault)",
            "SIGKILL": "was killed (SIGKILL: out of memory or killed by hand)",
            "SIGABRT": "aborted",
            "SIGBUS": "crashed (bus error)",
            "SIGILL": "crashed (illegal instruction: the build does not suit this CPU)",
            "SIGTERM": "was terminated",
        }.get(name, f"died from {name}")
        return number, f"the engine worker {reason}"
    return None, f"the engine worker exited with code {exitcode}"


def raise_for(event: Event) -> Mapping[str, Any]:
    """Return a Result's data or raise the exception that matches a final event."""
    if isinstance(event, Result):
        return event.data
    if isinstance(event, Failed):
        raise RequestFailed(event.kind, event.message, event.detail)
    if isinstance(event, Cancelled):
        raise RequestCancelledError(event.data)
    if isinstance(event, EngineDead):
        raise EngineDeadError(event.message, event.exitcode, event.signal, event.stderr_tail)
    raise TypeError(f"not a final event: {event!r}")
