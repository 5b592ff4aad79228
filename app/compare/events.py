"""What a running comparison reports to its caller (the CLI prints them, the GUI draws them)."""

from __future__ import annotations

from dataclasses import dataclass

from app.compare.plan import Config
from app.compare.results import ResultRow


@dataclass(frozen=True)
class PlanReady:
    """The session exists and these configurations will run, in this order."""

    session_id: str
    configs: tuple[Config, ...]


@dataclass(frozen=True)
class ConfigStarted:
    """Configuration ``index`` (0-based) of ``total`` begins."""

    index: int
    total: int
    config: Config


@dataclass(frozen=True)
class StepProgress:
    """Where the current configuration is (``fraction`` of the whole session, 0..1)."""

    fraction: float
    message: str


@dataclass(frozen=True)
class LiveSample:
    """One measured value as it happens (a latency, a rate), for the live line."""

    config_label: str
    series: str
    value: float
    t: float


@dataclass(frozen=True)
class ConfigDone:
    """A configuration finished (measured, failed or cancelled)."""

    index: int
    row: ResultRow


@dataclass(frozen=True)
class SessionDone:
    """The comparison ended; the rows carry their final flags."""

    session_id: str
    status: str
    rows: tuple[ResultRow, ...]


CompareEvent = PlanReady | ConfigStarted | StepProgress | LiveSample | ConfigDone | SessionDone
