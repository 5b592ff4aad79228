"""Aggregate metrics of a run, computed exactly as ``vllm bench serve``'s ``calculate_metrics`` does.

Definitions (say which when comparing with other tools): TTFT = send -> first SSE chunk with non-empty
``choices``; ITL = gap between successive ``choices`` chunks, pooled over all successful requests (AIPerf's and
guidellm's "ITL" is this TPOT); TPOT = (E2EL - TTFT)/(n - 1) per request with n > 1 output tokens; E2EL = send ->
last ``choices`` chunk. std has ddof 0; percentiles interpolate linearly (numpy's default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.loadgen.records import RequestOutput

SERIES = ("ttft", "tpot", "itl", "e2el")


def percentile_key(p: float, metric: str) -> str:
    """vLLM's key: ``p99_ttft_ms``, ``p99.9_itl_ms``."""
    word = str(int(p)) if int(p) == p else str(p)
    return f"p{word}_{metric}_ms"


def stats_ms(values: Sequence[float], metric: str, percentiles: Sequence[float]) -> dict[str, float]:
    """mean/median/std/pNN of seconds, in milliseconds, under vLLM's key names (0 for no values)."""
    data: Any = list(values) or 0  # vLLM's ``values or 0``: an empty series reads as zeros
    out = {f"mean_{metric}_ms": float(np.mean(data)) * 1000, f"median_{metric}_ms": float(np.median(data)) * 1000,
           f"std_{metric}_ms": float(np.std(data)) * 1000}
    for p in percentiles:
        out[percentile_key(p, metric)] = float(np.percentile(data, p)) * 1000
    return out


def peak_output_rate(outputs: Sequence[RequestOutput]) -> tuple[float, int]:
    """(max output tokens in any 1 s bucket, peak concurrent requests), as vLLM counts them.

    Each ``choices`` chunk counts as one token at its arrival time (start + ttft + cumulative itl); buckets
    are whole seconds from the earliest start. Concurrency is an exact sweep over [start, start + latency).
    """
    done = [o for o in outputs if o.success]
    if not done:
        return 0.0, 0
    t0 = min(o.start_time for o in done)
    t1 = max(o.start_time + o.latency for o in done)
    buckets = np.zeros(int(np.ceil(t1 - t0)) + 1)
    for o in done:
        t = o.start_time + o.ttft
        times = [t]
        for gap in o.itl:
            t += gap
            times.append(t)
        for when in times:
            index = int(when - t0)
            if 0 <= index < len(buckets):
                buckets[index] += 1
    events = sorted([(o.start_time, 1) for o in done] + [(o.start_time + o.latency, -1) for o in done])
    current = peak = 0
    for _, delta in events:  # ties: the departure (-1) sorts first, so [start, end) intervals
        current += delta
        peak = max(peak, current)
    return float(buckets.max()), peak


def compute_metrics(outputs: Sequence[RequestOutput], duration_s: float, goodput: Mapping[str, float],
                    percentiles: Sequence[float]) -> tuple[dict[str, Any], list[int]]:
    """vLLM's aggregate keys for a run, and each request's output length (0 for a failed request).

    ``outputs[i].output_tokens`` must already hold the token count (usage, or a tokenizer's count); a success
    with no count is taken as one token, as vLLM does without a tokenizer.
    """
    output_lens: list[int] = []
    total_input = completed = good = 0
    itls: list[float] = []
    tpots: list[float] = []
    all_tpots: list[float] = []
    ttfts: list[float] = []
    e2els: list[float] = []
    for o in outputs:
        if not o.success:
            output_lens.append(0)
            continue
        n = o.output_tokens or 1
        output_lens.append(n)
        total_input += o.prompt_len
        tpot = 0.0
        if n > 1:
            tpot = (o.latency - o.ttft) / (n - 1)
            tpots.append(tpot)
        all_tpots.append(tpot)  # a one-token answer has TPOT 0 for goodput, as in vLLM
        itls += o.itl
        ttfts.append(o.ttft)
        e2els.append(o.latency)
        completed += 1
    if goodput:
        columns = {"ttft": ttfts, "tpot": all_tpots, "e2el": e2els}
        chosen = [(columns[name], slo_ms / 1000) for name, slo_ms in goodput.items()]
        for i in range(completed):
            good += all(values[i] <= slo for values, slo in chosen)
    total_output = sum(output_lens)
    peak_rate, peak_concurrency = peak_output_rate(outputs)
    metrics: dict[str, Any] = {
        "duration": duration_s, "completed": completed, "failed": sum(1 for o in outputs if not o.success),
        "total_input_tokens": total_input, "total_output_tokens": total_output,
        "request_throughput": completed / duration_s if duration_s > 0 else 0.0,
        "request_goodput": (good / duration_s if duration_s > 0 else 0.0) if goodput else None,
        "output_throughput": total_output / duration_s if duration_s > 0 else 0.0,
        "total_token_throughput": (total_input + total_output) / duration_s if duration_s > 0 else 0.0,
        "max_output_tokens_per_s": peak_rate, "max_concurrent_requests": peak_concurrency,
    }
    for name, values in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        metrics.update(stats_ms(values, name, percentiles))
    return metrics, output_lens
