"""Drive a benchmark: arrivals, the concurrency cap, cancellation, then token counts and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from app.history import History
from app.loadgen import record
from app.loadgen.arrivals import arrival_offsets
from app.loadgen.capacity import capacity_warnings, client_capacity
from app.loadgen.client import send_request
from app.loadgen.config import BenchConfig, SweepPoint
from app.loadgen.datasets import build_requests
from app.loadgen.energy import RunEnergyMeter
from app.loadgen.metrics import compute_metrics
from app.loadgen.records import RequestInput, RequestOutput
from app.loadgen.result import BenchResult
from app.loadgen.tokenizer import Tokenizer, close_tokenizer, open_tokenizer

PROGRESS_INTERVAL_S = 0.1
LAG_TICK_S = 0.005


@dataclass(frozen=True)
class BenchProgress:
    """Where a run stands (sent at most every 0.1 s, and once at the end of each point)."""

    point_index: int
    points: int
    label: str
    done: int
    failed: int
    total: int
    elapsed_s: float


ProgressCallback = Callable[[BenchProgress], None]


@dataclass
class _Drive:
    outputs: list[RequestOutput | None]
    duration_s: float
    start: float
    cancelled: bool
    lag_s: list[float] = field(default_factory=list)


async def _lag_monitor(finished: asyncio.Event, samples: list[float]) -> None:
    # How late the loop wakes a short sleep: every timestamp the client takes is late by as much.
    while not finished.is_set():
        t = time.perf_counter()
        await asyncio.sleep(LAG_TICK_S)
        samples.append(max(0.0, time.perf_counter() - t - LAG_TICK_S))


async def _watch_cancel(cancel_event: threading.Event | None, stop: asyncio.Event, finished: asyncio.Event) -> None:
    while cancel_event is not None and not finished.is_set():
        if cancel_event.is_set():
            stop.set()
            return
        await asyncio.sleep(0.05)


async def _warm_up(client: httpx.AsyncClient, config: BenchConfig) -> None:
    # The first request through httpx imports and sets up what it lazily needs (tens of ms that would land
    # in the first TTFT); one untimed GET of /v1/models pays that and opens a connection.
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    with contextlib.suppress(httpx.HTTPError):
        await client.get(config.root_url + "/v1/models", headers=headers, timeout=2.0)


async def _drive(config: BenchConfig, requests: Sequence[RequestInput], report: Callable[[int, int], None],
                 cancel_event: threading.Event | None) -> _Drive:
    offsets = arrival_offsets(len(requests), config.request_rate, config.burstiness, config.seed)
    semaphore = asyncio.Semaphore(config.max_concurrency) if config.max_concurrency else None
    outputs: list[RequestOutput | None] = [None] * len(requests)
    counts = [0, 0]  # done, failed
    stop, finished = asyncio.Event(), asyncio.Event()
    lag: list[float] = []
    limits = httpx.Limits(max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency)
    timeout = httpx.Timeout(config.request_timeout_s, connect=config.connect_timeout_s, pool=None)
    # A proxy from the environment must not sit between the client and a local server.
    # Plain http needs no certificates (loading them costs ~0.1 s of CPU per client).
    verify = config.root_url.startswith("https:")
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=not config.is_local,
                                 verify=verify) as client:

        async def one(index: int, request: RequestInput, arrival: float) -> None:
            async with semaphore or contextlib.nullcontext():
                out = await send_request(client, config, request)
            out.queue_time = out.start_time - arrival
            outputs[index] = out
            counts[0] += 1
            counts[1] += not out.success
            report(*counts)

        await _warm_up(client, config)
        helpers = [asyncio.create_task(_lag_monitor(finished, lag)),
                   asyncio.create_task(_watch_cancel(cancel_event, stop, finished))]
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for index, request in enumerate(requests):
            # Plain sleeps (no task per wait, unlike wait_for), at most 50 ms each so a cancel is seen soon.
            while not stop.is_set() and (delay := start + offsets[index] - time.perf_counter()) > 0:
                await asyncio.sleep(min(delay, 0.05))
            if stop.is_set():
                break
            tasks.append(asyncio.create_task(one(index, request, time.perf_counter())))
        everything: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([everything, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            for task in tasks:
                task.cancel()
        for outcome in await everything:
            # send_request turns every network or server failure into data; anything else is a bug to show.
            if isinstance(outcome, Exception):
                raise outcome
        duration = time.perf_counter() - start
        finished.set()
        stopper.cancel()
        await asyncio.gather(*helpers, stopper, return_exceptions=True)
    return _Drive(outputs, duration, start, stop.is_set(), lag)


def _count_tokens(outputs: Sequence[RequestOutput], tok: Tokenizer | None) -> str:
    """Fill ``output_tokens`` where the server gave no usage; returns the sources used, '+'-joined."""
    sources: list[str] = []
    for out in outputs:
        if not out.success:
            continue
        if out.usage_reported and out.output_tokens:
            source = "usage"
        elif tok is not None:
            out.output_tokens = len(tok.encode(out.generated_text))
            source = tok.source
        else:
            out.output_tokens = out.chunks  # no tokenizer: one token per streamed chunk (an estimate)
            source = "chunks (no usage and no tokenizer: one token per chunk assumed)"
        if source not in sources:
            sources.append(source)
    return "+".join(sources) or "none (no request succeeded)"


def run_benchmark(config: BenchConfig, on_progress: ProgressCallback | None = None,
                  cancel_event: threading.Event | None = None, *, requests: Sequence[RequestInput] | None = None,
                  tokenizer: Tokenizer | None = None, point_index: int = 0, points: int = 1) -> BenchResult:
    """Run one benchmark point and return its result (a cancelled run keeps what finished).

    Blocking; call from a worker thread in a GUI. ``requests``/``tokenizer`` let a sweep build the dataset
    once; otherwise the tokenizer named by ``config.tokenizer`` is opened and the dataset built here.
    """
    own = tokenizer is None
    tok = open_tokenizer(config.tokenizer, config.root_url, config.model, config.api_key) if own else tokenizer
    try:
        prompts = list(requests) if requests is not None else build_requests(config, tok)
        label = _label(config)
        last = [0.0]
        t0 = time.perf_counter()

        def report(done: int, failed: int) -> None:
            now = time.perf_counter()
            if on_progress is not None and (now - last[0] >= PROGRESS_INTERVAL_S or done == len(prompts)):
                last[0] = now
                on_progress(BenchProgress(point_index, points, label, done, failed, len(prompts), now - t0))

        date = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        meter = RunEnergyMeter() if config.measure_energy and config.is_local else None
        with meter or contextlib.nullcontext():
            drive = asyncio.run(_drive(config, prompts, report, cancel_event))
        finished = [o for o in drive.outputs if o is not None]
        source = _count_tokens(finished, tok)
        metrics, output_lens = compute_metrics(finished, drive.duration_s, config.goodput, config.percentiles)
        lag_ms = np.asarray(drive.lag_s or [0.0]) * 1000
        result = BenchResult(
            config=config, date=date, outputs=finished, output_lens=output_lens, metrics=metrics,
            token_source=source, tokenizer_id=tok.source if tok is not None else None, arrival_start=drive.start,
            loop_lag_p99_ms=float(np.percentile(lag_ms, 99)), loop_lag_max_ms=float(lag_ms.max()),
            energy=meter.result() if meter is not None else None, cancelled=drive.cancelled,
            unfinished=len(prompts) - len(finished))
        result.warnings += capacity_warnings(metrics["max_output_tokens_per_s"], metrics["request_throughput"],
                                             result.loop_lag_p99_ms, client_capacity())
        resent = sum(o.resent for o in finished)
        if resent:
            result.warnings.append(f"{resent} request(s) were sent a second time: the server closed a reused "
                                   "connection before answering the first send (their times start at the resend)")
        if finished and not metrics["completed"]:
            result.warnings.append(f"every request failed; the first error: {finished[0].error}")
        return result
    finally:
        if own:
            close_tokenizer(tok)


def run_sweep(config: BenchConfig, points: Sequence[SweepPoint], on_progress: ProgressCallback | None = None,
              cancel_event: threading.Event | None = None, on_result: Callable[[BenchResult], None] | None = None,
              history: History | None = None, compare_id: str | None = None) -> list[BenchResult]:
    """One result per sweep point, on the same prompts; stops after a cancelled point.

    With ``history``, each point is one run there (see app/loadgen/record.py); ``result.run_id`` names it.
    """
    tok = open_tokenizer(config.tokenizer, config.root_url, config.model, config.api_key)
    try:
        prompts = build_requests(config, tok)
        results = []
        chosen = list(points) or [SweepPoint(config.max_concurrency, config.request_rate)]
        for index, point in enumerate(chosen):
            if cancel_event is not None and cancel_event.is_set():
                break
            point_config = config.at(point)
            run_id = record.start_point(history, point_config, compare_id=compare_id) if history else None
            try:
                result = run_benchmark(point_config, on_progress, cancel_event, requests=prompts, tokenizer=tok,
                                       point_index=index, points=len(chosen))
            except BaseException as exc:
                if history is not None and run_id is not None:
                    record.fail_point(history, run_id, f"{type(exc).__name__}: {exc}")
                raise
            if history is not None and run_id is not None:
                record.finish_point(history, run_id, result)
            results.append(result)
            if on_result is not None:
                on_result(result)
            if result.cancelled:
                break
        return results
    finally:
        close_tokenizer(tok)


def _label(config: BenchConfig) -> str:
    return SweepPoint(config.max_concurrency, config.request_rate).label
