"""Will a Hub file fit this machine? Estimates from its size (plus KV cache for GGUF) against free memory."""

from __future__ import annotations

from dataclasses import dataclass

from core.memory_fit import FitVerdict, estimate_llm_memory, fit_verdict

# The context the verdict assumes when none is given (the LLM engine's default).
DEFAULT_CONTEXT = 4096
# A CNN at batch 1 needs its weights plus activations and runtime buffers: a generous flat allowance.
_VISION_OVERHEAD_BYTES = 256 * 1024 * 1024
_VISION_FACTOR = 1.5


@dataclass(frozen=True)
class FitEstimate:
    """Bytes a model needs at the assumed context, and the verdict against free RAM / VRAM."""

    required_bytes: int
    verdict: FitVerdict
    n_ctx: int | None = None


def estimate_file_fit(filename: str, size: int | None, *, free_ram: int, free_vram: int | None,
                      n_ctx: int = DEFAULT_CONTEXT) -> FitEstimate | None:
    """The fit of a weights file of ``size`` bytes; None for files that are not weights."""
    if size is None:
        return None
    lower = filename.lower()
    if lower.endswith(".gguf"):
        required = estimate_llm_memory(size, n_ctx=n_ctx).total_bytes
        return FitEstimate(required, fit_verdict(required, free_ram=free_ram, free_vram=free_vram), n_ctx)
    if lower.endswith((".safetensors", ".onnx", ".pth", ".pt")):
        required = int(size * _VISION_FACTOR) + _VISION_OVERHEAD_BYTES
        return FitEstimate(required, fit_verdict(required, free_ram=free_ram, free_vram=free_vram))
    return None
