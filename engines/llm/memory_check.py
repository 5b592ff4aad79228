"""Refuse, before loading, a model that will not fit: weights + KV cache at the context vs free memory."""

from __future__ import annotations

from typing import Any

from core.gguf import GGUFInfo
from core.memory_fit import (
    KV_BYTES_PER_ELEMENT,
    FitVerdict,
    MemoryEstimate,
    available_memory,
    estimate_llm_memory,
    fit_verdict,
)
from engines.base import EngineError, ErrorKind
from engines.llm.options import LoadOptions

_GIB = 1024**3


def _gib(n: int) -> str:
    return f"{n / _GIB:.2f} GiB" if n >= _GIB else f"{n / 2**20:.0f} MiB"


def estimate(info: GGUFInfo, n_ctx: int, options: LoadOptions) -> MemoryEstimate:
    """Memory the model needs at ``n_ctx`` with the chosen KV cache types."""
    # K and V may use different types; size both as the larger one (a slight overestimate).
    kv_type = max((options.cache_type_k, options.cache_type_v), key=lambda name: KV_BYTES_PER_ELEMENT[name])
    return estimate_llm_memory(
        info.weights_bytes, n_ctx=n_ctx, n_layer=info.n_layer, n_embd=info.n_embd, n_head=info.n_head,
        n_head_kv=info.n_head_kv, head_dim=info.head_dim, kv_type=kv_type,
    )


def check_fit(info: GGUFInfo, n_ctx: int, options: LoadOptions, *, gpu: bool) -> dict[str, Any]:
    """The estimate and verdict as plain data; raise OUT_OF_MEMORY with the numbers unless forced."""
    need = estimate(info, n_ctx, options)
    free_ram, free_vram = available_memory()
    limit_note = ""
    if options.memory_limit is not None and options.memory_limit < free_ram:
        free_ram, limit_note = options.memory_limit, " (your memory limit)"
    verdict = fit_verdict(need.total_bytes, free_ram=free_ram, free_vram=free_vram if gpu else None)
    report = {
        "weights_bytes": need.weights_bytes, "kv_cache_bytes": need.kv_cache_bytes,
        "overhead_bytes": need.overhead_bytes, "total_bytes": need.total_bytes, "free_ram_bytes": free_ram,
        "free_vram_bytes": free_vram if gpu else None, "verdict": verdict.value, "forced": False,
    }
    if verdict is FitVerdict.NO:
        if options.force:
            report["forced"] = True
            return report
        free = f"{_gib(free_ram)} of RAM{limit_note}"
        if gpu and free_vram is not None:
            free += f" and {_gib(free_vram)} of GPU memory"
        raise EngineError(
            ErrorKind.OUT_OF_MEMORY,
            f"{info.path.name} will not fit: it needs about {_gib(need.total_bytes)} (weights "
            f"{_gib(need.weights_bytes)} + KV cache {_gib(need.kv_cache_bytes)} at context {n_ctx} + "
            f"overhead {_gib(need.overhead_bytes)}) but only {free} is free. Lower the context, use a "
            "quantized KV cache or a smaller quantization, or load anyway with force=true.",
        )
    return report


def estimate_for_file(path: str, n_ctx: int | None = None, kv_type: str = "f16") -> MemoryEstimate:
    """Memory a GGUF needs at ``n_ctx`` (default: min(4096, its trained context)), from its header only.

    For the model list and download picker: no llama_cpp import, no weights read.
    """
    from core.gguf import read_gguf
    from engines.llm.options import DEFAULT_CTX

    info = read_gguf(path)
    context = n_ctx or min(DEFAULT_CTX, info.context_length or DEFAULT_CTX)
    return estimate(info, context, LoadOptions(cache_type_k=kv_type, cache_type_v=kv_type, flash_attn=True))
