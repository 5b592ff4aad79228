"""Run a request while recording it in the history: row at start, samples as they come, status at end."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.history import History
from app.messages import Cancelled, EngineDead, Event, Failed, Partial, Result, Sample
from app.supervisor import EngineClient, RequestHandle
from core.metrics import ResourceSampler

_SAMPLE_FLUSH = 500


class RunStatus(StrEnum):
    """How a run ended (the history's ``runs.status``)."""

    OK = "ok"
    CANCELLED = "cancelled"
    FAILED = "failed"
    CRASHED = "crashed"


@dataclass
class RunOutcome:
    """How a recorded run ended."""

    run_id: str
    status: RunStatus
    result: Mapping[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None
    final: Event | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    phase: str = "run"  # "load" when the model never loaded, so the request never ran
    op: str = ""  # the operation that ran

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)

    @property
    def ok(self) -> bool:
        """True when the run finished normally."""
        return self.status == RunStatus.OK


def file_fingerprint(path: str | os.PathLike[str]) -> str | None:
    """A cheap stable identity for a model file: SHA-256 of size + first and last MiB."""
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        return None
    if not p.is_file():
        return None
    # Cached by (path, size, mtime): it is computed before every recorded request and counts in TTFT.
    return _fingerprint(str(p), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _fingerprint(path: str, size: int, _mtime_ns: int) -> str:
    p = Path(path)
    digest = hashlib.sha256(str(size).encode())
    with open(p, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:32]


def run_recorded(
    client: EngineClient, op: str, params: Mapping[str, Any] | None = None, *, history: History,
    engine: str | None = None, model_id: str | None = None, model_path: str | None = None,
    device: str | None = None, on_event: Callable[[Event], None] | None = None,
    sample_resources: bool = True, compare_id: str | None = None, tags: Sequence[str] = (),
    store_result: bool = True, on_start: Callable[[str, Any], None] | None = None,
) -> RunOutcome:
    """Submit ``op`` to ``client`` and record the run; never raises for engine failures."""
    params = dict(params or {})
    info = client.model_info or {}
    model_path = model_path or (str(info["path"]) if info.get("path") else None)
    # The engine starts first and the row is written while it works: the history's insert and commit
    # would otherwise sit in every request's time to first token. Events wait in the handle meanwhile.
    handle = client.submit(op, params)
    try:
        run_id = history.start_run(
            engine=engine or client.spec.id, kind=client.spec.kind.value, op=op,
            model_id=model_id or info.get("model_id") or info.get("name"),
            model_hash=(file_fingerprint(model_path) if model_path else None), model_path=model_path,
            device=device or info.get("device"), params=params, worker_pid=client.pid, compare_id=compare_id,
            tags=tags,
        )
    except BaseException:
        handle.cancel()
        with contextlib.suppress(TimeoutError):
            handle.wait(30)
        raise
    sampler: ResourceSampler | None = None
    pending: list[tuple[str, float, float]] = []
    partials: list[Mapping[str, Any]] = []
    if sample_resources and client.pid is not None:
        def on_resource(sample: Any) -> None:
            pending.append(("cpu_percent", sample.t, sample.cpu_percent))
            pending.append(("rss_mb", sample.t, sample.rss_bytes / 2**20))
            if sample.gpu_memory_bytes is not None:
                pending.append(("gpu_memory_mb", sample.t, sample.gpu_memory_bytes / 2**20))
        sampler = ResourceSampler(client.pid, on_sample=on_resource).start()
    if on_start is not None:
        on_start(run_id, handle)
    final: Event | None = None
    try:
        for event in handle.events():
            if isinstance(event, Partial):
                partials.append(event.data)
            elif isinstance(event, Sample):
                pending.append((event.series, event.t, event.value))
                if len(pending) >= _SAMPLE_FLUSH:
                    history.add_samples(run_id, pending)
                    pending = []
            if on_event is not None:
                on_event(event)
            final = event
    except BaseException:
        # KeyboardInterrupt or a bug in on_event: stop the engine and keep an honest row.
        handle.cancel()
        final = handle.wait(30)
        if not isinstance(final, Result):
            history.finish_run(run_id, "cancelled", error="interrupted")
            raise
    finally:
        resource_metrics = sampler.stop() if sampler is not None else {}
    outcome = _finish(history, run_id, final, pending, resource_metrics, store_result, partials)
    outcome.op = op
    return outcome


def _finish(history: History, run_id: str, final: Event | None, pending: list[tuple[str, float, float]],
            resource_metrics: dict[str, float], store_result: bool,
            partials: list[Mapping[str, Any]] | None = None) -> RunOutcome:
    outcome = outcome_of(final, run_id)
    outcome.metrics = {**outcome.metrics, **resource_metrics}
    if isinstance(final, Result):
        series = final.data.get("series") or {}
        for name, points in series.items():
            for index, point in enumerate(points):
                if isinstance(point, list | tuple):
                    pending.append((name, float(point[0]), float(point[1])))
                else:
                    pending.append((name, float(index), float(point)))
    history.add_samples(run_id, pending)
    stored = None
    if store_result and outcome.result is not None:
        stored = {k: v for k, v in outcome.result.items() if k not in ("series", "metrics")}
    elif store_result and outcome.status == RunStatus.CRASHED and partials:
        # What the engine streamed before it died is kept with the run (the answer so far, the images done).
        stored = {"interrupted": "worker crashed", **partial_summary(partials)}
        outcome.metrics = {**outcome.metrics, **{k: v for k, v in stored.items() if k.endswith("_done")}}
    history.finish_run(run_id, outcome.status, metrics=outcome.metrics, error=outcome.error, result=stored)
    outcome.metrics.setdefault("recorded_at", time.time())
    return outcome


def partial_summary(partials: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What streamed partials add up to: the text so far for token streams, else the items themselves."""
    if all("text" in p for p in partials):
        return {"text": "".join(str(p.get("text") or "") for p in partials), "tokens_done": float(len(partials))}
    return {"items": [dict(p) for p in partials], "items_done": float(len(partials))}


def outcome_of(final: Event | None, run_id: str = "") -> RunOutcome:
    """The outcome a request's final event stands for."""
    outcome = RunOutcome(run_id, RunStatus.FAILED, final=final)
    if isinstance(final, Result):
        outcome.status, outcome.result = RunStatus.OK, final.data
        outcome.metrics = dict(final.data.get("metrics") or {})
    elif isinstance(final, Cancelled):
        outcome.status, outcome.result, outcome.error = RunStatus.CANCELLED, final.data, "cancelled by the user"
        outcome.metrics = dict(final.data.get("metrics") or {})
    elif isinstance(final, Failed):
        outcome.error, outcome.error_kind = final.message, final.kind
    elif isinstance(final, EngineDead):
        outcome.status, outcome.error, outcome.error_kind = RunStatus.CRASHED, final.message, "crashed"
    else:
        outcome.error = "the run ended without a result"
    return outcome


def run_unrecorded(client: EngineClient, op: str, params: Mapping[str, Any] | None = None, *,
                   on_event: Callable[[Event], None] | None = None,
                   on_start: Callable[[RequestHandle], None] | None = None) -> RunOutcome:
    """Submit ``op`` and wait for its end without writing to the history; never raises for engine failures."""
    handle = client.submit(op, dict(params or {}))
    if on_start is not None:
        on_start(handle)
    final: Event | None = None
    try:
        for event in handle.events():
            if on_event is not None:
                on_event(event)
            final = event
    except BaseException:
        handle.cancel()
        handle.wait(30)
        raise
    outcome = outcome_of(final)
    outcome.op = op
    return outcome
