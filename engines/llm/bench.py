"""llama-bench style measurement: prompt processing (pp) and text generation (tg) on random tokens.

As llama-bench does it: the KV cache is cleared before every repetition, pp evaluates ``n_prompt`` tokens
in batches, tg decodes ``n_gen`` tokens one at a time (no sampling), one warm-up run precedes the measured
ones, and every sample is kept. Rates are tokens/s as mean ± sample standard deviation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from core.metrics import mean_std
from engines.base import EngineError, ErrorKind, RunContext


def _int_param(params: Mapping[str, Any], name: str, default: int, low: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EngineError(ErrorKind.BAD_INPUT, f"bench {name} must be a whole number >= {low}, not {value!r}")
    return value


def _random_tokens(llm: Any, count: int, rng: random.Random) -> list[int]:
    n_vocab = int(llm.n_vocab())
    tokens = [rng.randrange(n_vocab) for _ in range(count)]
    bos = int(llm.token_bos())
    if tokens and bos >= 0 and llm._model.add_bos_token():
        tokens[0] = bos
    return tokens


def _clear(llm: Any) -> None:
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)


def _prompt_run(llm: Any, tokens: list[int]) -> float:
    _clear(llm)
    t0 = time.perf_counter()
    llm.eval(tokens)
    return time.perf_counter() - t0


def _gen_run(llm: Any, tokens: list[int], ctx: RunContext) -> float:
    _clear(llm)
    eval_one = llm.eval
    t0 = time.perf_counter()
    for token in tokens:
        eval_one([token])
        ctx.check_cancelled()
    return time.perf_counter() - t0


def run_bench(
    llm: Any, params: Mapping[str, Any], ctx: RunContext, facts: Mapping[str, Any],
) -> dict[str, Any]:
    """Measure pp and tg; result has one entry per test with every sample, plus flat metrics."""
    n_prompt = _int_param(params, "n_prompt", 512, 0)
    n_gen = _int_param(params, "n_gen", 128, 0)
    reps = _int_param(params, "repetitions", 5, 1)
    warmup = bool(params.get("warmup", True))
    if n_prompt == 0 and n_gen == 0:
        raise EngineError(ErrorKind.BAD_INPUT, "bench needs n_prompt or n_gen above 0")
    n_ctx = int(llm.n_ctx())
    if max(n_prompt, n_gen) > n_ctx:
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
    try:
        for kind, count in plan:
            tokens = _random_tokens(llm, count, rng)
            if warmup:
                ctx.progress(step, total_steps, f"{kind}{count} warm-up")
                # llama-bench warms tg with a single token and pp with the full prompt.
                if kind == "pp":
                    _prompt_run(llm, tokens)
                else:
                    _gen_run(llm, tokens[:1], ctx)
                step += 1
            seconds: list[float] = []
            times: list[float] = []
            for rep in range(reps):
                ctx.check_cancelled()
                ctx.progress(step, total_steps, f"{kind}{count} run {rep + 1}/{reps}")
                elapsed = _prompt_run(llm, tokens) if kind == "pp" else _gen_run(llm, tokens, ctx)
                seconds.append(elapsed)
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
    finally:
        _clear(llm)  # the cache holds random tokens now: the next chat must not reuse it
    ctx.progress(total_steps, total_steps, "done")
    return {"tests": tests, "repetitions": reps, "warmup": warmup, "model": dict(facts),
            "metrics": out_metrics, "series": series}
