"""llama-bench's measurement: prompt processing (pp) and text generation (tg) on random tokens.

Exactly as ``tools/llama-bench/llama-bench.cpp`` does it (see :mod:`engines.llm.decode_loop`): each test
gets a fresh context sized to it (n_ctx = tokens of the test) on the loaded model, with the model's batch
sizes, KV cache types and threads, and flash attention left to llama.cpp (``auto``, llama-bench's default)
unless the model was loaded with it on or the request says otherwise. One warm-up run precedes the measured
ones (the whole prompt for pp, a single token for tg), the KV cache is cleared before every repetition
outside the timed region, and the figure is llama-bench's ``avg_ts``: the mean of the per-repetition rates
``n / t`` with their sample standard deviation; every sample is kept. The chat's own context and KV cache
are never touched.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from core.metrics import mean_std
from engines.base import EngineError, ErrorKind, RunContext
from engines.llm.decode_loop import FLASH_ATTN, BenchContext
from engines.llm.options import KV_CACHE_TYPES


def _int_param(params: Mapping[str, Any], name: str, default: int, low: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EngineError(ErrorKind.BAD_INPUT, f"bench {name} must be a whole number >= {low}, not {value!r}")
    return value


def _flash_attn(params: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """``auto`` (llama-bench's default), ``on`` or ``off``: the request's choice, else on if loaded so."""
    value = params.get("flash_attn")
    if value is None:
        return "on" if facts.get("flash_attn") is True else "auto"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value not in FLASH_ATTN:
        raise EngineError(ErrorKind.BAD_INPUT, f"bench flash_attn must be auto, on or off, not {value!r}")
    return str(value)


def _context(llm: Any, facts: Mapping[str, Any], n_ctx: int, flash_attn: str) -> BenchContext:
    threads = int(facts.get("threads") or 1)
    # llama-bench has one thread count (-t) for prompt and generation alike.
    return BenchContext(
        llm._model.model, n_ctx=n_ctx, n_batch=int(facts.get("n_batch") or 512),
        n_ubatch=int(facts.get("n_ubatch") or 512),
        type_k=KV_CACHE_TYPES[str(facts.get("cache_type_k") or "f16")],
        type_v=KV_CACHE_TYPES[str(facts.get("cache_type_v") or "f16")],
        flash_attn=flash_attn, threads=threads, threads_batch=threads,
    )


def run_bench(
    llm: Any, params: Mapping[str, Any], ctx: RunContext, facts: Mapping[str, Any],
) -> dict[str, Any]:
    """Measure pp and tg; result has one entry per test with every sample, plus flat metrics."""
    n_prompt = _int_param(params, "n_prompt", 512, 0)
    n_gen = _int_param(params, "n_gen", 128, 0)
    reps = _int_param(params, "repetitions", 5, 1)
    warmup = bool(params.get("warmup", True))
    flash_attn = _flash_attn(params, facts)
    if n_prompt == 0 and n_gen == 0:
        raise EngineError(ErrorKind.BAD_INPUT, "bench needs n_prompt or n_gen above 0")
    n_ctx = int(llm.n_ctx())
    if max(n_prompt, n_gen) > n_ctx:
        # The memory check at load time covered n_ctx tokens; a larger test context could exhaust memory.
        raise EngineError(ErrorKind.BAD_INPUT, f"bench needs a context of {max(n_prompt, n_gen)} tokens but "
                          f"the model was loaded with {n_ctx}; load it with a larger context")
    rng = random.Random(int(params.get("seed", 42)))
    plan = [("pp", n_prompt)] if n_prompt else []
    plan += [("tg", n_gen)] if n_gen else []
    total_steps = len(plan) * (reps + int(warmup))
    step = 0
    tests: list[dict[str, Any]] = []
    out_metrics: dict[str, float] = {}
    series: dict[str, list[list[float]]] = {}
    cancelled = ctx.cancel_requested
    for kind, count in plan:
        ctx.check_cancelled()
        with _context(llm, facts, count, flash_attn) as bench:
            measure = bench.prompt if kind == "pp" else bench.generate
            bench.clear()
            if warmup:
                ctx.progress(step, total_steps, f"{kind}{count} warm-up")
                # llama-bench warms pp with the whole prompt and tg with a single token.
                measure(count if kind == "pp" else 1, rng, cancelled)
                step += 1
            seconds: list[float] = []
            times: list[float] = []
            for rep in range(reps):
                ctx.check_cancelled()
                ctx.progress(step, total_steps, f"{kind}{count} run {rep + 1}/{reps}")
                bench.clear()
                seconds.append(measure(count, rng, cancelled))
                times.append(time.perf_counter())
                step += 1
        rates = [count / s for s in seconds]
        mean, std = mean_std(rates)
        tests.append({
            "test": f"{kind}{count}", "n_prompt": count if kind == "pp" else 0,
            "n_gen": count if kind == "tg" else 0, "avg_ts": mean, "stddev_ts": std,
            "samples_ts": rates, "samples_ns": [int(s * 1e9) for s in seconds],
            "avg_ns": int(sum(seconds) / len(seconds) * 1e9),
        })
        out_metrics[f"{kind}_tokens_per_s"] = mean
        out_metrics[f"{kind}_tokens_per_s_std"] = std
        series[f"{kind}_tokens_per_s"] = [[t, r] for t, r in zip(times, rates, strict=True)]
    ctx.progress(total_steps, total_steps, "done")
    model = {**facts, "flash_attn": flash_attn}
    return {"tests": tests, "repetitions": reps, "warmup": warmup, "model": model,
            "metrics": out_metrics, "series": series}
