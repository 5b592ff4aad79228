"""Every message that crosses the worker boundary, as small frozen dataclasses.

Requests go from the app to a worker; events come back. Each carries the ``request_id`` of the request it
belongs to. Payloads are plain data (str, numbers, lists, dicts) so they pickle cheaply and can be stored
as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- requests (app -> worker) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """Load a model into the worker's engine."""

    request_id: str
    model: str
    device: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """Run one operation (``chat``, ``classify``, ``query``, ...) on the loaded model."""

    request_id: str
    op: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cancel:
    """Ask the running request ``request_id`` to stop at its next check."""

    request_id: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Unload and exit."""

    request_id: str = "shutdown"


Request = Load | Run | Cancel | Shutdown


# --- events (worker -> app) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The worker began the request; ``t`` is its ``perf_counter`` at that moment."""

    request_id: str
    t: float


@dataclass(frozen=True, slots=True)
class Partial:
    """A piece of output (a token, a classified image, ...)."""

    request_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a long request is."""

    request_id: str
    done: float
    total: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """One time-series point, timestamped in the worker."""

    request_id: str
    series: str
    value: float
    t: float


@dataclass(frozen=True, slots=True)
class Result:
    """The request finished; ``data`` is what the engine returned."""

    request_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Failed:
    """The request failed with an error the engine reported (or a bug, kind ``internal``)."""

    request_id: str
    kind: str
    message: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The request stopped because it was cancelled; ``data`` holds what was done so far."""

    request_id: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EngineDead:
    """The worker process died while the request was pending."""

    request_id: str
    exitcode: int | None
    signal: int | None
    stderr_tail: str
    message: str


Event = Started | Partial | Progress | Sample | Result | Failed | Cancelled | EngineDead

FINAL_EVENTS = (Result, Failed, Cancelled, EngineDead)


def is_final(event: Event) -> bool:
    """True for the event that ends a request."""
    return isinstance(event, FINAL_EVENTS)
