"""Metric definitions in one place, as the field defines them, and resource sampling of a worker.

* TTFT: time from the request reaching the engine to the first output token.
* TPOT: mean time per output token after the first: (t_last - t_first) / (n - 1).
* ITL: the list of gaps between consecutive output tokens.
* Generation tokens/s: (n - 1) / (t_last - t_first) — the first token is prompt processing's, as MLPerf
  Client and llama-bench count it. Prompt tokens/s: prompt tokens / TTFT.
* Latency summaries: mean, median, p90, p99 (linear interpolation between order statistics), std.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def ttft_s(t_request: float, token_times: Sequence[float]) -> float | None:
    """Time to first token, or None when nothing was generated."""
    return token_times[0] - t_request if token_times else None


def itl_s(token_times: Sequence[float]) -> list[float]:
    """Inter-token latencies."""
    return [b - a for a, b in itertools.pairwise(token_times)]


def tpot_s(token_times: Sequence[float]) -> float | None:
    """Mean time per output token after the first."""
    if len(token_times) < 2:
        return None
    return (token_times[-1] - token_times[0]) / (len(token_times) - 1)


def generation_tokens_per_s(token_times: Sequence[float]) -> float | None:
    """Decode rate, excluding the first token."""
    tpot = tpot_s(token_times)
    return None if not tpot else 1.0 / tpot


def rate(count: float, seconds: float) -> float | None:
    """Items per second (None for a zero duration)."""
    return None if seconds <= 0 else count / seconds


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    if not values:
        raise ValueError("mean of no values")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def latency_summary(values: Sequence[float], prefix: str = "latency", unit: str = "ms") -> dict[str, float]:
    """mean/median/p90/p99/min/max/std of latencies, keyed ``{prefix}_{stat}_{unit}``."""
    if not values:
        return {}
    mean, std = mean_std(values)
    stats = {"mean": mean, "median": percentile(values, 50), "p90": percentile(values, 90),
             "p99": percentile(values, 99), "min": min(values), "max": max(values), "std": std}
    return {f"{prefix}_{name}_{unit}": value for name, value in stats.items()}


def token_metrics(t_request: float, token_times: Sequence[float], prompt_tokens: int) -> dict[str, float]:
    """The standard LLM metrics of one generation (milliseconds and tokens/s)."""
    out: dict[str, float] = {"gen_tokens": float(len(token_times)), "prompt_tokens": float(prompt_tokens)}
    first = ttft_s(t_request, token_times)
    if first is not None:
        out["ttft_ms"] = first * 1000
        if first > 0 and prompt_tokens:
            out["prompt_tokens_per_s"] = prompt_tokens / first
        out["e2e_ms"] = (token_times[-1] - t_request) * 1000
    tpot = tpot_s(token_times)
    if tpot:
        out["tpot_ms"] = tpot * 1000
        out["gen_tokens_per_s"] = 1.0 / tpot
    gaps = itl_s(token_times)
    if gaps:
        out.update(latency_summary([g * 1000 for g in gaps], prefix="itl"))
    return out


# Descendants change rarely (a vision worker's decoders): list them every few seconds, not every sample.
_CHILDREN_EVERY = 12
# NVML opens and closes a session per reading (milliseconds): read GPU memory once a second at most.
_GPU_EVERY = 4


@dataclass
class ResourceSample:
    """One reading of a process's resource use."""

    t: float
    cpu_percent: float
    rss_bytes: int
    gpu_memory_bytes: int | None = None


class _ProcSource:
    """CPU % and RSS (process + descendants) from /proc; see :mod:`core.proc_stat`."""

    def __init__(self, pid: int) -> None:
        from core.proc_stat import ProcReader

        self._reader = ProcReader(pid)
        self._kids: dict[int, ProcReader] = {}
        self._last = (time.monotonic(), self._reader.cpu_seconds())

    def refresh_children(self) -> None:
        from core.proc_stat import ProcessGone, ProcReader, descendants

        found = descendants(self._reader.pid)
        if found is None:  # a kernel that does not list children: walk the process table (psutil) instead
            import psutil

            try:
                found = [p.pid for p in psutil.Process(self._reader.pid).children(recursive=True)]
            except psutil.Error as exc:
                raise ProcessGone(str(exc)) from exc
        for pid in set(self._kids) - set(found):
            self._kids.pop(pid).close()
        for pid in found:
            if pid not in self._kids:
                try:
                    self._kids[pid] = ProcReader(pid)
                except ProcessGone:
                    pass

    def read(self) -> tuple[float, int]:
        from core.proc_stat import ProcessGone

        now, cpu = time.monotonic(), self._reader.cpu_seconds()
        rss = self._reader.rss_bytes()
        then, cpu_then = self._last
        self._last = (now, cpu)
        for pid, kid in list(self._kids.items()):
            try:
                rss += kid.rss_bytes()
            except ProcessGone:
                self._kids.pop(pid).close()
        return (100.0 * (cpu - cpu_then) / (now - then) if now > then else 0.0), rss

    def close(self) -> None:
        self._reader.close()
        for kid in self._kids.values():
            kid.close()
        self._kids.clear()


class _PsutilSource:
    """The same readings through psutil, where there is no /proc (macOS, Windows)."""

    def __init__(self, pid: int) -> None:
        import psutil

        from core.proc_stat import ProcessGone

        try:
            self._process = psutil.Process(pid)
            self._process.cpu_percent(None)
        except psutil.Error as exc:
            raise ProcessGone(str(exc)) from exc
        self._kids: list[Any] = []

    def refresh_children(self) -> None:
        import psutil

        from core.proc_stat import ProcessGone

        try:
            self._kids = self._process.children(recursive=True)
        except psutil.Error as exc:
            raise ProcessGone(str(exc)) from exc

    def read(self) -> tuple[float, int]:
        import psutil

        from core.proc_stat import ProcessGone

        try:
            with self._process.oneshot():
                rss = self._process.memory_info().rss
                cpu = self._process.cpu_percent(None)
        except psutil.Error as exc:
            raise ProcessGone(str(exc)) from exc
        for child in self._kids:
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                pass
        return cpu, rss

    def close(self) -> None:
        self._kids = []


def _source(pid: int) -> _ProcSource | _PsutilSource | None:
    from core.proc_stat import ProcessGone, proc_readable

    try:
        return _ProcSource(pid) if proc_readable(pid) else _PsutilSource(pid)
    except ProcessGone:
        return None


@dataclass
class ResourceSampler:
    """Samples CPU %, RSS (process and descendants) and GPU memory of ``pid`` at a fixed rate on a thread.

    Cheap enough to run beside a one-thread decode (bench/llm_overhead.py): /proc is read directly, the
    descendants are listed every few seconds, and GPU memory is read only where NVML answered the first
    time, once a second.
    """

    pid: int
    interval_s: float = 0.25
    on_sample: Callable[[ResourceSample], None] | None = None
    samples: list[ResourceSample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ResourceSampler:
        """Begin sampling; returns self."""
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling and summarise (peak RSS, mean CPU %)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self.samples:
            return {}
        out = {
            "peak_rss_mb": max(s.rss_bytes for s in self.samples) / 2**20,
            "mean_cpu_percent": sum(s.cpu_percent for s in self.samples) / len(self.samples),
        }
        gpu = [s.gpu_memory_bytes for s in self.samples if s.gpu_memory_bytes is not None]
        if gpu:
            out["peak_gpu_memory_mb"] = max(gpu) / 2**20
        return out

    def _loop(self) -> None:
        source = _source(self.pid)
        if source is None:
            return
        try:
            self._sample(source)
        finally:
            source.close()

    def _sample(self, source: _ProcSource | _PsutilSource) -> None:
        from core.proc_stat import ProcessGone

        gpu_known = True  # until NVML fails to answer once
        tick = 0
        while not self._stop.wait(self.interval_s):
            try:
                if tick % _CHILDREN_EVERY == 0:
                    source.refresh_children()
                cpu, rss = source.read()
            except ProcessGone:
                return
            gpu = None
            if gpu_known and tick % _GPU_EVERY == 0:
                gpu = gpu_memory_used(self.pid)
                gpu_known = gpu is not None
            tick += 1
            sample = ResourceSample(time.perf_counter(), cpu, rss, gpu)
            self.samples.append(sample)
            if self.on_sample is not None:
                self.on_sample(sample)


def gpu_memory_used(pid: int | None = None) -> int | None:
    """GPU memory in use (by ``pid`` when NVML can attribute it), or None where it cannot be read."""
    from core.nvml import gpu_memory, process_gpu_memory

    if pid is not None:
        return process_gpu_memory(pid)
    gpus = gpu_memory()
    return None if gpus is None else sum(g.used for g in gpus)
