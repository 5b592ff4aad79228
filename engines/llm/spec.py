"""The LLM engine's light spec: found by discovery without importing llama_cpp."""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import Device, EngineKind, EngineSpec


def _devices(devices: Sequence[Device]) -> list[str]:
    # GPUs only when the llama.cpp build can offload to them (the device probe lists those as llama.cpp).
    return ["cpu"] + [d.id for d in devices if d.backend == "llama.cpp" and d.kind == "gpu"]


SPEC = EngineSpec(
    id="llm",
    kind=EngineKind.LLM,
    title="LLM (llama.cpp, GGUF)",
    engine_class="engines.llm.engine:LlamaEngine",
    file_types=(".gguf",),
    ops=("chat", "complete", "bench", "tokenize", "count", "info", "quantize"),
    supported_devices=_devices,
    description="Chat, completion and llama-bench style measurement of GGUF models with llama.cpp.",
)
