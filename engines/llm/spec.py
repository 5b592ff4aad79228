"""The LLM engine's light spec: found by discovery without importing llama_cpp."""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import Device, EngineKind, EngineSpec, OptionSpec
from engines.llm.options import DEFAULT_CTX, KV_CACHE_TYPES, LoadOptions
from engines.llm.quantize import QUANT_TARGETS
from engines.llm.sampling import SamplingParams

_LOAD = LoadOptions()  # the defaults, declared once in the options module
LOAD_OPTIONS = (
    OptionSpec("n_ctx", "int", _LOAD.n_ctx,
               help=f"context size in tokens; auto: up to {DEFAULT_CTX}, at most the model's training size"),
    OptionSpec("threads", "int", _LOAD.threads, help="CPU threads; auto: the physical cores"),
    OptionSpec("gpu_layers", "choice", _LOAD.gpu_layers, ("all", "none"),
               help="layers offloaded to the GPU: all, none or a number (ignored on the CPU)"),
    OptionSpec("flash_attn", "choice", "auto", ("auto", "on", "off"),
               help="flash attention: auto lets llama.cpp use it where the device can (as llama-bench and "
                    "llama-server do); a quantized V cache needs it"),
    OptionSpec("cache_type_k", "choice", _LOAD.cache_type_k, tuple(KV_CACHE_TYPES), help="KV cache type of K"),
    OptionSpec("cache_type_v", "choice", _LOAD.cache_type_v, tuple(KV_CACHE_TYPES), help="KV cache type of V"),
    OptionSpec("n_batch", "int", _LOAD.n_batch, help="prompt tokens per decode call"),
    OptionSpec("parallel", "int", _LOAD.parallel,
               help="chat/complete requests decoded together (continuous batching); each gets the full "
                    "context, so the KV cache grows with it"),
)


_SAMPLING = SamplingParams()  # the chat op's defaults, declared once in the sampling module
CHAT_OPTIONS = (
    OptionSpec("chat.temperature", "float", _SAMPLING.temperature, help="randomness: 0 always picks the likeliest"),
    OptionSpec("chat.top_p", "float", _SAMPLING.top_p, help="nucleus: keep the likeliest tokens up to this mass"),
    OptionSpec("chat.top_k", "int", _SAMPLING.top_k, help="keep only this many likeliest tokens"),
    OptionSpec("chat.min_p", "float", _SAMPLING.min_p, help="drop tokens below this share of the likeliest"),
    OptionSpec("chat.repeat_penalty", "float", _SAMPLING.repeat_penalty, help="discourage recent tokens"),
    OptionSpec("chat.max_tokens", "int", _SAMPLING.max_tokens, help="stop after this many tokens"),
)


def _devices(devices: Sequence[Device]) -> list[str]:
    # GPUs only when the llama.cpp build can offload to them (the device probe lists those as llama.cpp).
    return ["cpu"] + [d.id for d in devices if d.backend == "llama.cpp" and d.kind == "gpu"]


SPEC = EngineSpec(
    id="llm",
    kind=EngineKind.LLM,
    title="LLM (llama.cpp, GGUF)",
    engine_class="engines.llm.engine:LlamaEngine",
    file_types=(".gguf",),
    ops=("chat", "complete", "bench", "tokenize", "count", "info", "quantize", "quality"),
    supported_devices=_devices,
    description="Chat, completion and llama-bench style measurement of GGUF models with llama.cpp.",
    compare_workload="app.compare.llm_workload:WORKLOAD",
    parallel_option="parallel",
    # llama.cpp's OpenMP threads meet at a barrier after every op: libgomp's default (spin briefly, and only
    # when there are cores for every thread) is what llama-bench and llama-server run with; PASSIVE cost
    # ~30 % of tg128 at 2 threads on 2 cores (bench/llm_truth.py).
    worker_env=(("OMP_WAIT_POLICY", ""),),
    load_options=LOAD_OPTIONS,
    op_options=(OptionSpec("quantize.type", "choice", "Q8_0", QUANT_TARGETS, help="llama.cpp quantization"),
                *CHAT_OPTIONS),
    default_model="smollm2-135m-instruct",
    starter_models=("smollm2-135m-instruct", "gemma3-270m"),
    backends=("llama.cpp",),
    precisions=QUANT_TARGETS,  # what a GGUF can be re-quantized to here (the file's own type aside)
)
