"""The LLM workload: llama-bench's pp512 / tg128 tokens/s and TTFT, per device, thread count and quantization.

* cold: worker start + load (``cold_start_s``), then the TTFT of the first request (``cold_first_ms``);
* TTFT: a fixed prompt, prompt cache off, ``ttft_tokens`` generated, warm repetitions after the cold one;
* pp / tg: the engine's ``bench`` op (llama-bench's definitions: random tokens, KV cache cleared before
  each run, one warm-up), run as two requests so the energy of each can be measured on its own;
* energy per token where RAPL / NVML can be read; MBU = model bytes x tg tokens/s / memory bandwidth.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.compare.bandwidth import bandwidth_for, model_bandwidth_utilisation
from app.compare.llm_quality import add_quality
from app.compare.measure import MeasureContext, StepFailed
from app.compare.plan import CompareSettings, Config, thread_counts
from app.compare.results import INFO, ResultRow
from app.compare.workload import PlanMachine, Workload
from core.metrics import latency_summary, mean_std

# About 50 tokens of plain English: TTFT is then mostly prompt processing, as in a short chat turn.
TTFT_PROMPT = (
    "Measuring computers is like measuring anything else: agree on a workload, run it under controlled "
    "conditions, repeat it until the numbers settle, and report how much they still vary. Explain in one "
    "sentence why"
)


def _threads_label(n: int) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def configs(settings: CompareSettings, devices: Sequence[str], machine: PlanMachine) -> list[Config]:
    """Threads 1..N on the CPU, full offload on each GPU, for the model and each derived quantization."""
    quants = [""] + [q.upper() for q in settings.quantize]
    out = []
    for quant in dict.fromkeys(quants):
        for device in devices:
            if device == "cpu":
                for threads in settings.llm_threads or thread_counts(machine.cores):
                    out.append(Config("llm", "llm", "cpu", "llama.cpp", quant, _threads_label(threads), threads,
                                      settings.llm_model, derive=quant))
            else:
                out.append(Config("llm", "llm", device, "llama.cpp", quant, "all layers on GPU", 1,
                                  settings.llm_model, derive=quant, options={"gpu_layers": "all"}))
    return out


def _model_path(ctx: MeasureContext) -> Path:
    from app.model_refs import UnknownModel, resolve_model_ref

    try:
        return resolve_model_ref(ctx.config.model, "llm")
    except UnknownModel as exc:
        raise StepFailed(str(exc), "not_found") from None


def derived_model(ctx: MeasureContext, source: Path, quant: str) -> Path:
    """``source`` re-quantized to ``quant`` with llama.cpp (cached next to the other derived files)."""
    from core import paths

    target = paths.cache_dir("compare-quant") / f"{source.stem}.{quant}.gguf"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    ctx.progress(0.0, f"deriving {quant} from {source.name} (llama.cpp quantizer)")
    with ctx.start_worker(threads=ctx.config.threads) as client:
        ctx.load(client, str(source), "cpu", {"n_ctx": 64})
        ctx.record(client, "quantize", {"output": str(target), "type": quant})
    return target


def _bench(ctx: MeasureContext, client: Any, kind: str, count: int) -> tuple[list[float], float, int]:
    """Run one bench test; returns (every tokens/s sample, seconds measured, tokens processed incl. warm-up)."""
    params = {"n_prompt": count if kind == "pp" else 0, "n_gen": count if kind == "tg" else 0}
    rates: list[float] = []
    seconds = 0.0
    tokens = 0
    warm_tokens = count if kind == "pp" else 1  # llama-bench warms pp with the prompt, tg with one token

    def call(reps: int, warmup: bool) -> float:
        nonlocal seconds, tokens
        result = ctx.record(client, "bench", {**params, "repetitions": reps, "warmup": warmup})
        test = result["tests"][0]
        rates.extend(float(r) for r in test["samples_ts"])
        for rate in test["samples_ts"]:
            ctx.live(f"{kind} tokens/s", float(rate))
        spent = sum(test["samples_ns"]) / 1e9
        seconds += spent
        tokens += count * reps + (warm_tokens if warmup else 0)
        return spent / reps

    if ctx.duration_s is None:
        call(ctx.repeat, True)
    else:
        per_rep = call(1, True)
        more = ctx.reps_for_duration(per_rep, seconds)
        if more:
            call(more, False)
    return rates, seconds, tokens


def measure(ctx: MeasureContext, shared: dict[str, Any] | None = None) -> ResultRow:
    """Measure one LLM configuration in its own worker."""
    config, settings = ctx.config, ctx.settings
    row = ResultRow("llm", config.device, "llama.cpp", config.precision, config.variant)
    source = _model_path(ctx)
    path = derived_model(ctx, source, config.derive) if config.derive else source
    n_ctx = max(settings.n_prompt, settings.n_gen, 256) + 64
    options: dict[str, Any] = {"n_ctx": n_ctx, **config.options}
    if config.device == "cpu":
        options.update(threads=config.threads, gpu_layers="none")
    client = ctx.start_worker()
    with client:
        ctx.progress(0.02, "starting the worker and loading")
        info, cold_s = ctx.load(client, str(path), config.device, options)
        row.precision = str(info.get("quantization") or config.precision)
        model_bytes = float(info.get("file_size") or path.stat().st_size)
        row.metrics.update(cold_start_s=cold_s, load_ms=float(info.get("load_ms") or 0.0),
                           threads=float(info.get("threads") or config.threads), model_bytes=model_bytes,
                           parameters=float(info.get("parameters") or 0), n_prompt=float(settings.n_prompt),
                           n_gen=float(settings.n_gen), gpu_layers=float(info.get("gpu_layers") or 0))
        ttft_params = {"prompt": TTFT_PROMPT, "max_tokens": settings.ttft_tokens, "temperature": 0.0,
                       "seed": 1, "ignore_eos": True, "cache_prompt": False, "stream": False}
        ctx.progress(0.05, "first request (cold TTFT)")
        first = ctx.record(client, "complete", ttft_params)
        row.metrics["cold_first_ms"] = float(first["metrics"]["ttft_ms"])
        row.metrics["ttft_prompt_tokens"] = float(first.get("prompt_tokens") or 0)
        ttfts: list[float] = []
        started = time.perf_counter()
        while ctx.keep_going(len(ttfts), started):
            ctx.progress(0.1 + 0.1 * min(1.0, len(ttfts) / max(1, ctx.repeat)), "TTFT")
            result = ctx.record(client, "complete", ttft_params)
            ttfts.append(float(result["metrics"]["ttft_ms"]))
            ctx.live("TTFT ms", ttfts[-1])
        row.samples["ttft_ms"] = ttfts
        row.metrics.update({k.replace("latency", "ttft"): v for k, v in latency_summary(ttfts).items()})
        row.metrics["ttft_ms"] = row.metrics["ttft_median_ms"]
        for step, (kind, count) in enumerate((("pp", settings.n_prompt), ("tg", settings.n_gen))):
            if not count:
                continue
            ctx.progress(0.25 + 0.35 * step, f"{kind}{count}")
            with ctx.energy.measure() as box:
                rates, _seconds, tokens = _bench(ctx, client, kind, count)
            row.run_id = ctx.run_ids[-1]
            mean, std = mean_std(rates)
            row.samples[f"{kind}_tokens_per_s"] = rates
            row.metrics[f"{kind}_tokens_per_s"] = mean
            row.metrics[f"{kind}_tokens_per_s_std"] = std
            if box.energy is not None and tokens:
                row.metrics[f"{kind}_joules_per_token"] = box.energy.joules / tokens
                row.metrics[f"{kind}_watts"] = box.energy.watts
        # With derived quantizations, what each costs in quality (KL, Δ-PPL vs the most precise file).
        add_quality(ctx, client, row, source, path, shared if shared is not None else {})
    _add_mbu(ctx, row)
    ctx.progress(1.0, "done")
    return row


def _add_mbu(ctx: MeasureContext, row: ResultRow) -> None:
    tg = row.metrics.get("tg_tokens_per_s")
    bandwidth = bandwidth_for(row.device, ctx.cpu_bandwidth)
    if tg is None or bandwidth is None:
        return
    row.metrics["bandwidth_gb_s"] = bandwidth.gb_per_s
    row.metrics["mbu"] = model_bandwidth_utilisation(row.metrics["model_bytes"], tg, bandwidth)
    if row.metrics["mbu"] > 1.0:
        row.flag("mbu_above_one", f"decode read {row.metrics['model_bytes'] * tg / 1e9:.1f} GB/s, more than the "
                                  f"{bandwidth.gb_per_s:.1f} GB/s the probe measured (a busy machine during the "
                                  "probe, or one thread cannot saturate the memory): MBU is an upper bound", INFO)
    if bandwidth.method.startswith("theoretical"):
        row.flag("bandwidth_theoretical", f"MBU against the specified peak ({bandwidth.method})", INFO)


WORKLOAD = Workload("llm", default_repeat=3, configs=configs, measure=measure, needs_cpu_bandwidth=True)
