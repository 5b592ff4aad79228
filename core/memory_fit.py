"""Will a model fit? Memory estimates (weights + KV cache + overhead) and a verdict against free memory.

Shared by the model manager (fit verdicts on Hub files) and the LLM engine (refusal before loading).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# llama.cpp keeps compute buffers and scratch next to the weights; this covers them for small contexts.
_OVERHEAD_FIXED = 256 * 1024 * 1024
_OVERHEAD_FRACTION = 0.05

KV_BYTES_PER_ELEMENT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "q4_1": 20 / 32,
                        "q5_0": 22 / 32, "q5_1": 24 / 32, "iq4_nl": 18 / 32}


class FitVerdict(StrEnum):
    """Where a model can run, LM Studio style."""

    FULL_GPU = "fits in VRAM"
    RAM = "fits in RAM"
    PARTIAL = "partial offload"
    NO = "will not fit"


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Bytes needed to run a model at a given context."""

    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int

    @property
    def total_bytes(self) -> int:
        """Everything together."""
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes


def kv_cache_bytes(
    *, n_ctx: int, n_layer: int, n_embd: int, n_head: int, n_head_kv: int | None = None,
    head_dim: int | None = None, kv_type: str = "f16",
) -> int:
    """Bytes of the K and V caches: 2 x layers x context x (kv heads x head size) x element size."""
    kv_heads = n_head_kv or n_head
    dim = head_dim or (n_embd // max(n_head, 1))
    per_element = KV_BYTES_PER_ELEMENT.get(kv_type.lower(), 2.0)
    return int(2 * n_layer * n_ctx * kv_heads * dim * per_element)


def estimate_llm_memory(
    weights_bytes: int, *, n_ctx: int, n_layer: int | None = None, n_embd: int | None = None,
    n_head: int | None = None, n_head_kv: int | None = None, head_dim: int | None = None,
    kv_type: str = "f16",
) -> MemoryEstimate:
    """Estimate memory for a GGUF; without architecture facts the KV cache is guessed from the file size."""
    if n_layer and n_embd and n_head:
        kv = kv_cache_bytes(n_ctx=n_ctx, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                            n_head_kv=n_head_kv, head_dim=head_dim, kv_type=kv_type)
    else:
        # Rough rule from common GGUFs (GQA models): ~1.5% of the weights per 1k tokens of context at f16.
        kv = int(weights_bytes * 0.015 * n_ctx / 1024 * KV_BYTES_PER_ELEMENT.get(kv_type.lower(), 2.0) / 2)
    overhead = _OVERHEAD_FIXED + int(weights_bytes * _OVERHEAD_FRACTION)
    return MemoryEstimate(weights_bytes, kv, overhead)


def fit_verdict(required_bytes: int, *, free_ram: int, free_vram: int | None = None) -> FitVerdict:
    """Compare a requirement with free RAM and VRAM (None: no GPU that llama.cpp can use)."""
    if free_vram is not None and required_bytes <= free_vram:
        return FitVerdict.FULL_GPU
    if required_bytes <= free_ram:
        return FitVerdict.RAM
    if free_vram is not None and required_bytes <= free_ram + free_vram:
        return FitVerdict.PARTIAL
    return FitVerdict.NO


def available_memory() -> tuple[int, int | None]:
    """Free RAM and free GPU memory in bytes (None when no GPU memory can be read)."""
    import psutil

    free_ram = int(psutil.virtual_memory().available)
    return free_ram, _free_vram()


def _free_vram() -> int | None:
    # NVML is the one reading that works without importing torch (which costs seconds).
    from core.nvml import gpu_memory

    gpus = gpu_memory()
    return max((g.free for g in gpus), default=None) if gpus else None
