"""The ``embed`` op: one pooled, normalised vector per input text (the model loaded with ``embedding``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engines.base import EngineError, ErrorKind

if TYPE_CHECKING:
    from engines.llm.loader import Loaded

MAX_INPUTS = 256


def embed(loaded: Loaded, params: Mapping[str, Any]) -> dict[str, Any]:
    """Embed ``input`` (a string or a list of strings); returns the vectors and the prompt token count."""
    if not loaded.options.embedding:
        raise EngineError(ErrorKind.BAD_INPUT, f"{loaded.info.name} was not loaded for embeddings: load it "
                                               "with the option embedding=true")
    raw = params.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise EngineError(ErrorKind.BAD_INPUT, "embed needs 'input': a non-empty string or list of strings")
    if len(texts) > MAX_INPUTS:
        raise EngineError(ErrorKind.BAD_INPUT, f"embed takes at most {MAX_INPUTS} inputs, not {len(texts)}")
    llm = loaded.llm
    counts = [len(llm.tokenize(t.encode("utf-8"), add_bos=True)) for t in texts]
    too_long = [(i, n) for i, n in enumerate(counts) if n > loaded.n_ctx]
    if too_long:
        i, n = too_long[0]
        raise EngineError(ErrorKind.BAD_INPUT, f"input {i} is {n} tokens but the context holds {loaded.n_ctx}")
    t0 = time.perf_counter()
    vectors = llm.embed(texts, normalize=True)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    return {"embeddings": [[float(x) for x in v] for v in vectors], "prompt_tokens": sum(counts),
            "dimensions": len(vectors[0]) if vectors else 0,
            "metrics": {"latency_ms": elapsed_ms, "prompt_tokens": float(sum(counts))}}
