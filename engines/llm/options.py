"""Load options, named the way LM Studio and llama.cpp users know them, checked before llama.cpp sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from engines.base import EngineError, ErrorKind

# ggml type ids for the KV cache (llama.cpp's --cache-type-k/-v).
KV_CACHE_TYPES: dict[str, int] = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30,
}
DEFAULT_CTX = 4096
MAX_PARALLEL = 64  # sequences one batched context holds (llama.cpp's LLAMA_MAX_SEQ is 256)


@dataclass(frozen=True)
class LoadOptions:
    """Everything that decides how a GGUF is loaded. ``None`` means "choose for me"."""

    n_ctx: int | None = None  # None: min(4096, the model's training context)
    threads: int | None = None  # None: core.thread_env.default_threads()
    threads_batch: int | None = None  # None: same as threads
    n_batch: int = 512
    n_ubatch: int = 512
    gpu_layers: str | int = "all"  # "all" | "none" | N (ignored on cpu)
    flash_attn: bool | None = None  # None: llama.cpp decides ("auto": on where the device runs it)
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    seed: int | None = None
    use_mmap: bool = True
    use_mlock: bool = False
    chat_format: str | None = None  # builtin name or Jinja text overriding the GGUF template
    prompt_lookup: int = 0  # >0: prompt-lookup speculative decoding with this many draft tokens
    prompt_lookup_ngram: int = 2
    force: bool = False  # load even when the memory estimate says it will not fit
    memory_limit: int | None = None  # bytes the model may use (below what is free); None: all free RAM
    embedding: bool = False  # embedding mode (mean pooling): the ``embed`` op instead of generation
    parallel: int = 1  # >1: that many chat/complete requests decode together (engines/llm/batching.py)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for results and the history."""
        return asdict(self)


_INT_FIELDS = {"n_ctx", "threads", "threads_batch", "n_batch", "n_ubatch", "seed", "prompt_lookup",
               "prompt_lookup_ngram", "memory_limit", "parallel"}
_BOOL_FIELDS = {"flash_attn", "use_mmap", "use_mlock", "force", "embedding"}
_ALIASES = {"ctx": "n_ctx", "context": "n_ctx", "context_length": "n_ctx", "n_threads": "threads",
            "n_gpu_layers": "gpu_layers", "ngl": "gpu_layers", "type_k": "cache_type_k",
            "type_v": "cache_type_v", "mmap": "use_mmap", "mlock": "use_mlock", "draft": "prompt_lookup",
            "n_parallel": "parallel", "np": "parallel"}


def _bad(message: str) -> EngineError:
    return EngineError(ErrorKind.BAD_INPUT, message)


def parse_load_options(raw: Mapping[str, Any]) -> LoadOptions:
    """Validate a user's option mapping; unknown names and bad values raise EngineError(BAD_INPUT)."""
    known = {f.name for f in fields(LoadOptions)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name not in known:
            raise _bad(f"unknown load option {key!r}; known: {', '.join(sorted(known))}")
        if value is None:
            continue
        values[name] = _coerce(name, value)
    options = LoadOptions(**values)
    _check(options)
    return options


def _coerce(name: str, value: Any) -> Any:
    if name == "flash_attn" and isinstance(value, str) and value.lower() == "auto":
        return None
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise _bad(f"option {name} must be true or false, not {value!r}")
    if name in _INT_FIELDS:
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise _bad(f"option {name} must be a whole number, not {value!r}") from None
    if name == "gpu_layers":
        if isinstance(value, str) and value.lower() in ("all", "none", "max", "auto"):
            return {"max": "all", "auto": "all"}.get(value.lower(), value.lower())
        try:
            layers = int(value)
        except (TypeError, ValueError):
            raise _bad(f"gpu_layers must be 'all', 'none' or a number, not {value!r}") from None
        return "all" if layers < 0 else layers
    if name in ("cache_type_k", "cache_type_v"):
        text = str(value).lower()
        if text not in KV_CACHE_TYPES:
            raise _bad(f"{name} {value!r} is not a KV cache type; use one of {', '.join(KV_CACHE_TYPES)}")
        return text
    return str(value)


def _check(options: LoadOptions) -> None:
    if options.n_ctx is not None and options.n_ctx < 16:
        raise _bad(f"context size {options.n_ctx} is too small (at least 16 tokens)")
    for name in ("threads", "threads_batch"):
        value = getattr(options, name)
        if value is not None and not 1 <= value <= 1024:
            raise _bad(f"{name} must be between 1 and 1024, not {value}")
    if options.n_batch < 1 or options.n_ubatch < 1:
        raise _bad("batch sizes must be at least 1")
    if options.prompt_lookup < 0 or options.prompt_lookup > 64:
        raise _bad("prompt_lookup (draft tokens) must be between 0 and 64")
    if options.prompt_lookup_ngram < 1:
        raise _bad("prompt_lookup_ngram must be at least 1")
    quantized_v = options.cache_type_v not in ("f16", "f32", "bf16")
    if quantized_v and options.flash_attn is False:
        # llama.cpp cannot build a quantized V cache without flash attention.
        raise _bad(f"a quantized V cache ({options.cache_type_v}) needs flash attention (flash_attn=true)")
    if not 1 <= options.parallel <= MAX_PARALLEL:
        raise _bad(f"parallel must be between 1 and {MAX_PARALLEL} requests at once, not {options.parallel}")
    if options.parallel > 1 and options.embedding:
        raise _bad("parallel decoding is for generation; load an embedding model with parallel=1")
    if options.memory_limit is not None and options.memory_limit <= 0:
        raise _bad("memory_limit must be a positive number of bytes")
