"""What a workload uses while measuring one configuration: its worker, recorded requests, energy, cancel.

Every request goes through :func:`app.recording.run_recorded` with the session id as ``compare_id``, so
each sample lands in the history's ``samples`` table next to the ordinary runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from app.compare.bandwidth import Bandwidth
from app.compare.events import CompareEvent, LiveSample, StepProgress
from app.compare.plan import CompareSettings, Config
from app.compare.power import EnergyMeter
from app.history import History
from app.messages import Event, Sample
from app.recording import run_recorded
from app.supervisor import RequestHandle, WorkerClient, start_engine


class MeasureCancelled(Exception):
    """The user cancelled the comparison."""


class StepFailed(Exception):
    """A request of this configuration failed; the message goes into the row."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class MeasureContext:
    """Per-configuration services; built by the runner, used by a workload's ``measure``."""

    def __init__(self, *, config: Config, settings: CompareSettings, history: History, session_id: str,
                 index: int, total: int, cancel_event: threading.Event, emit: Callable[[CompareEvent], None],
                 set_handle: Callable[[RequestHandle | None], None], energy: EnergyMeter,
                 cpu_bandwidth: Bandwidth | None) -> None:
        self.config = config
        self.settings = settings
        self.history = history
        self.session_id = session_id
        self.index = index
        self.total = total
        self.energy = energy
        self.cpu_bandwidth = cpu_bandwidth
        self.run_ids: list[str] = []
        self._cancel = cancel_event
        self._emit = emit
        self._set_handle = set_handle
        self._worker_started_at = 0.0

    # --- cancel and progress ----------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once the user asked to stop."""
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """The session's cancel flag, for blocking work that polls it itself (the serving benchmark)."""
        return self._cancel

    def check(self) -> None:
        """Raise :class:`MeasureCancelled` once the user asked to stop."""
        if self._cancel.is_set():
            raise MeasureCancelled()

    def progress(self, fraction: float, message: str) -> None:
        """Report progress within this configuration (0..1), as a fraction of the whole session."""
        overall = (self.index + min(max(fraction, 0.0), 1.0)) / max(1, self.total)
        self._emit(StepProgress(overall, f"{self.config.label}: {message}"))

    def live(self, series: str, value: float, t: float | None = None) -> None:
        """Send one measured value to the live line."""
        self._emit(LiveSample(self.config.label, series, float(value), time.perf_counter() if t is None else t))

    # --- repetitions --------------------------------------------------------------------------------
    @property
    def repeat(self) -> int:
        """Measured repetitions when no duration was chosen."""
        return self.settings.repeat_for(self.config.workload)

    @property
    def duration_s(self) -> float | None:
        """Seconds to measure each test for, when chosen instead of a repetition count."""
        return self.settings.duration_s

    def reps_for_duration(self, seconds_per_rep: float, spent_s: float = 0.0) -> int:
        """How many more repetitions fill the duration, given one took ``seconds_per_rep``."""
        assert self.duration_s is not None
        if seconds_per_rep <= 0:
            return 1
        return max(0, int((self.duration_s - spent_s) / seconds_per_rep))

    def keep_going(self, done: int, started: float) -> bool:
        """For one-request-per-sample tests: whether another repetition is due."""
        if self.duration_s is not None:
            return done < 1 or time.perf_counter() - started < self.duration_s
        return done < self.repeat

    # --- the worker -------------------------------------------------------------------------------
    def start_worker(self, threads: int | None = None, env: Mapping[str, str] | None = None) -> WorkerClient:
        """A fresh worker process for this configuration's engine."""
        self.check()
        self._worker_started_at = time.perf_counter()
        try:
            if "/" in self.config.device:  # NODE/<id>: an actor on that node (app.cluster), same interface
                from app.cluster.remote_client import start_remote_engine

                return start_remote_engine(self.config.engine, self.config.device,  # type: ignore[return-value]
                                           threads=threads or self.config.threads, env=env)
            return start_engine(self.config.engine, threads=threads or self.config.threads, env=env)
        except KeyError as exc:
            raise StepFailed(str(exc).strip("'\""), "not_found") from None

    def load(self, client: WorkerClient, model: str, device: str, options: Mapping[str, Any],
             timeout_s: float = 900.0) -> tuple[dict[str, Any], float]:
        """Load and return (model info, seconds from worker start to loaded); cancel kills the worker."""
        from app.errors import EngineDeadError, RequestCancelledError, RequestFailed

        handle = client.submit_load(model, device, options)
        self._set_handle(handle)
        deadline = time.monotonic() + timeout_s
        try:
            while not handle.done:
                if self._cancel.is_set():
                    client.kill()  # a load cannot be interrupted politely; the worker is disposable
                    raise MeasureCancelled()
                if time.monotonic() > deadline:
                    client.kill()
                    raise StepFailed(f"loading took longer than {timeout_s:.0f} s", "timeout")
                try:
                    handle.wait(0.1)
                except TimeoutError:
                    continue
            info = dict(handle.result())
        except RequestFailed as exc:
            raise StepFailed(f"cannot load on {device}: {exc.message}", exc.kind) from None
        except EngineDeadError as exc:
            raise StepFailed(f"the worker died while loading: {exc.message}", "crashed") from None
        except RequestCancelledError:
            raise MeasureCancelled() from None
        finally:
            self._set_handle(None)
        client.model_info = info
        return info, time.perf_counter() - self._worker_started_at

    def record(self, client: WorkerClient, op: str, params: Mapping[str, Any],
               live_series: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Run ``op`` recorded in the history with this session's id; returns the result or raises.

        ``live_series`` maps engine sample series to the name shown on the live line.
        """
        self.check()

        def on_event(event: Event) -> None:
            if isinstance(event, Sample) and live_series and event.series in live_series:
                self.live(live_series[event.series], event.value, event.t)

        config = self.config
        outcome = run_recorded(
            client, op, params, history=self.history, engine=config.engine, device=config.device,
            on_event=on_event, compare_id=self.session_id, tags=("compare", config.workload),
            on_start=lambda _run_id, handle: self._set_handle(handle),
        )
        self._set_handle(None)
        self.run_ids.append(outcome.run_id)
        if outcome.status == "cancelled" or self._cancel.is_set():
            raise MeasureCancelled()
        if outcome.status == "crashed":
            raise StepFailed(f"the worker died during {op}: {outcome.error}", "crashed")
        if not outcome.ok or outcome.result is None:
            raise StepFailed(f"{op} failed: {outcome.error}", outcome.error_kind or "")
        return dict(outcome.result)
