"""Turn a GGUF path, a device id and load options into a ``llama_cpp.Llama``, or a clear refusal."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.gguf import GGUFInfo, read_gguf
from engines.base import EngineError, ErrorKind
from engines.llm.memory_check import check_fit
from engines.llm.native_log import NativeLog
from engines.llm.options import DEFAULT_CTX, KV_CACHE_TYPES, LoadOptions

GPU_PREFIXES = ("cuda:", "vulkan:", "metal", "mps", "rocm:", "sycl:")


@dataclass
class Loaded:
    """A loaded model with the facts about how it was loaded."""

    llm: Any
    info: GGUFInfo
    options: LoadOptions
    n_ctx: int
    threads: int
    threads_batch: int
    gpu_layers: int
    device: str
    memory: dict[str, Any]
    load_ms: float
    draft: Any = None  # LlamaPromptLookupDecoding when speculative decoding is on


def choose_context(info: GGUFInfo, options: LoadOptions) -> int:
    """The context size: the user's (never above what the model was trained for) or min(4096, trained)."""
    trained = info.context_length
    if options.n_ctx is None:
        return min(DEFAULT_CTX, trained) if trained else DEFAULT_CTX
    if trained and options.n_ctx > trained:
        raise EngineError(ErrorKind.BAD_INPUT,
                          f"context {options.n_ctx} is larger than {info.path.name} allows ({trained} tokens); "
                          f"choose at most {trained}")
    return options.n_ctx


def gpu_layers_for(device: str, options: LoadOptions) -> tuple[int, int]:
    """(n_gpu_layers, main_gpu) for a device id; a GPU needs a llama.cpp build with GPU offload."""
    if device == "cpu":
        return 0, 0
    if not device.startswith(GPU_PREFIXES):
        raise EngineError(ErrorKind.DEVICE, f"unknown device {device!r} for llama.cpp; use cpu or a GPU "
                          "id such as cuda:0")
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        raise EngineError(ErrorKind.DEVICE, f"this llama.cpp build has no GPU support, so {device} cannot "
                          "be used; run on cpu or install a GPU build of llama-cpp-python")
    index = int(device.split(":", 1)[1]) if ":" in device and device.split(":", 1)[1].isdigit() else 0
    layers = options.gpu_layers
    count = -1 if layers == "all" else 0 if layers == "none" else int(layers)
    return count, index


def load_model(path: str, device: str, options: LoadOptions, log: NativeLog, *,
               default_threads: int) -> Loaded:
    """Validate the file, check memory, then load it with llama.cpp."""
    info = read_gguf(path)
    n_ctx = choose_context(info, options)
    gpu_layers, main_gpu = gpu_layers_for(device, options)
    memory = check_fit(info, n_ctx, options, gpu=gpu_layers != 0)
    threads = options.threads or default_threads
    threads_batch = options.threads_batch or threads

    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    # An abort inside llama.cpp should leave its assertion, not a debugger backtrace, at the end of the log.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    log.clear()
    draft = (LlamaPromptLookupDecoding(max_ngram_size=options.prompt_lookup_ngram,
                                       num_pred_tokens=options.prompt_lookup)
             if options.prompt_lookup else None)
    t0 = time.perf_counter()
    try:
        # verbose=True keeps llama-cpp-python from pointing fd 2 at /dev/null while loading, so a native
        # crash still leaves its message in the worker log; its Python chatter goes nowhere instead.
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()), \
                _flash_attn_auto(options.flash_attn is None):
            llm = llama_cpp.Llama(
                model_path=str(Path(path)), n_ctx=n_ctx, n_batch=options.n_batch, n_ubatch=options.n_ubatch,
                n_threads=threads, n_threads_batch=threads_batch, n_gpu_layers=gpu_layers, main_gpu=main_gpu,
                split_mode=llama_cpp.LLAMA_SPLIT_MODE_NONE if gpu_layers else llama_cpp.LLAMA_SPLIT_MODE_LAYER,
                flash_attn=bool(options.flash_attn), type_k=KV_CACHE_TYPES[options.cache_type_k],
                type_v=KV_CACHE_TYPES[options.cache_type_v],
                seed=options.seed if options.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
                use_mmap=options.use_mmap, use_mlock=options.use_mlock,
                # Draft verification samples at several positions, which needs logits for every token.
                logits_all=draft is not None, draft_model=draft, verbose=True,
                embedding=options.embedding,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN if options.embedding
                else llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED,
            )
    except (ValueError, RuntimeError) as exc:
        raise _explain_failure(info, log.since(), exc) from exc
    llm.verbose = False  # no per-call timing prints from here on
    llm.draft_model = None  # attached per request by the generation loop, counted there
    return Loaded(llm, info, options, n_ctx, threads, threads_batch, gpu_layers, device, memory,
                  (time.perf_counter() - t0) * 1000, draft)


@contextlib.contextmanager
def _flash_attn_auto(wanted: bool) -> Iterator[None]:
    """Let ``Llama(flash_attn=False)`` ask llama.cpp for *auto* instead of *disabled*.

    llama-cpp-python has only on/off and maps off to LLAMA_FLASH_ATTN_TYPE_DISABLED, a constant it reads
    while building the context; llama.cpp's own default (and llama-bench's, llama-server's) is AUTO. Swapping
    the context afterwards would allocate the KV cache twice, so the constant is pointed at AUTO for the
    duration of the construction (the worker loads one model at a time).
    """
    import llama_cpp.llama_cpp as lib

    if not wanted:
        yield
        return
    disabled = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    lib.LLAMA_FLASH_ATTN_TYPE_DISABLED = lib.LLAMA_FLASH_ATTN_TYPE_AUTO
    try:
        yield
    finally:
        lib.LLAMA_FLASH_ATTN_TYPE_DISABLED = disabled


def _explain_failure(info: GGUFInfo, native: str, exc: Exception) -> EngineError:
    lines = [line.strip() for line in native.splitlines() if line.strip()]
    detail = "\n".join(lines[-12:]) or str(exc)
    if "unknown model architecture" in native:
        return EngineError(ErrorKind.UNSUPPORTED,
                           f"{info.path.name}: architecture {info.architecture!r} is not supported by this "
                           "llama.cpp build (a newer llama-cpp-python may know it)", detail)
    if "failed to allocate" in native or "unable to allocate" in native or "out of memory" in native:
        return EngineError(ErrorKind.OUT_OF_MEMORY, f"llama.cpp could not allocate memory for "
                           f"{info.path.name}; lower the context or offload fewer layers", detail)
    marker = "error loading model: "
    reason = next((line[line.rindex(marker) + len(marker):] for line in reversed(lines) if marker in line),
                  next((line for line in reversed(lines) if "error" in line.lower()), str(exc)))
    return EngineError(ErrorKind.BAD_INPUT, f"llama.cpp could not load {info.path.name}: {reason}", detail)
