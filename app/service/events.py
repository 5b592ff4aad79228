"""What the service reports about a request beyond the engine's own events (``app.messages``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.recording import RunOutcome


@dataclass(frozen=True, slots=True)
class Queued:
    """The request waits behind ``ahead`` others in its slot's queue."""

    ticket_id: str
    ahead: int


@dataclass(frozen=True, slots=True)
class Loading:
    """The slot is starting its worker or loading the model; ``fraction`` is -1 when unknown."""

    ticket_id: str
    fraction: float
    message: str


@dataclass(frozen=True, slots=True)
class Loaded:
    """The slot's model is loaded; ``info`` is what the engine reported about it."""

    ticket_id: str
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    """The request is over; ``outcome`` says how (ok, cancelled, failed, crashed)."""

    ticket_id: str
    outcome: RunOutcome


@dataclass(frozen=True, slots=True)
class SlotChanged:
    """A slot was created, loaded, unloaded, crashed, or its queue changed (for status displays)."""

    key: str
    state: str
    queued: int
    running: int
    info: Mapping[str, Any] = field(default_factory=dict)


ServiceEvent = Queued | Loading | Loaded | Finished
