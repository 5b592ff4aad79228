"""The ``quality`` op: perplexity the way ``llama-perplexity`` measures it, and KL divergence to a reference.

As llama.cpp's ``tools/perplexity/perplexity.cpp`` does it: the text (one trailing newline dropped, as its
``-f`` does) is tokenized once with BOS when the vocabulary asks for it; the tokens are cut into
non-overlapping chunks of ``ctx`` tokens (at least two chunks' worth are needed); each chunk starts from an
empty KV cache with its first token replaced by BOS (when the model adds one); logits are requested only for
the second half of the chunk, and each of those positions but the last is scored on the next token. PPL is
exp(mean NLL) with llama.cpp's uncertainty. With a reference (written by this same op run on the reference
model, see :mod:`engines.llm.reference_logits`) the chunks are the reference's tokens, and the result adds
KL divergence (mean, median, p99, max), same-top-token %, and Δ-PPL / PPL ratio with their uncertainties.

Params: ``text`` or ``text_path``, ``ctx`` (default 512), ``chunks`` (default all), ``reference`` (a file to
compare with), ``write_reference`` (a file to write; ``top_k`` entries per position, default 64).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engines.base import EngineError, ErrorKind, RunCancelled, RunContext
from engines.llm.quality_stats import Tally, kl_top_k, score_logits
from engines.llm.reference_logits import ReferenceLogits, load_reference

DEFAULT_CTX = 512
DEFAULT_TOP_K = 64
_MAX_TEXT_BYTES = 64 << 20


def _bad(message: str) -> EngineError:
    return EngineError(ErrorKind.BAD_INPUT, message)


def _positive(params: Mapping[str, Any], name: str, default: int | None, low: int) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(f"quality {name} must be a whole number >= {low}, not {value!r}")
    return value


def read_text(params: Mapping[str, Any]) -> str:
    """The evaluation text from ``text`` or ``text_path``, less one trailing newline (as llama.cpp's -f)."""
    text = params.get("text")
    if text is None and params.get("text_path"):
        path = Path(str(params["text_path"]))
        try:
            if path.stat().st_size > _MAX_TEXT_BYTES:
                raise _bad(f"{path.name} is larger than {_MAX_TEXT_BYTES >> 20} MiB; use a shorter text")
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError as exc:
            raise EngineError(ErrorKind.NOT_FOUND, f"no text file {path}") from exc
        except UnicodeDecodeError as exc:
            raise _bad(f"{path.name} is not UTF-8 text") from exc
    if not isinstance(text, str) or not text.strip():
        raise _bad("quality needs a non-empty 'text' or a 'text_path'")
    return text[:-1] if text.endswith("\n") else text


class _Decoder:
    """One llama_batch reused for every chunk; returns the logits of the second half of a chunk."""

    def __init__(self, llm: Any, n_ctx: int) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._llm = llm
        self._ctx_ptr = llm._ctx.ctx
        self.n_vocab = int(llm.n_vocab())
        self.n_batch = min(int(llm.n_batch), n_ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)

    def close(self) -> None:
        """Free the batch and leave the model with an empty cache (the next chat starts clean)."""
        self._llama_cpp.llama_batch_free(self._batch)
        self._llm.reset()
        self._llm._ctx.kv_cache_clear()

    def chunk_logits(self, chunk: list[int], first: int, ctx: RunContext) -> npt.NDArray[np.float32]:
        """Decode ``chunk`` from an empty cache; logits (rows = positions ``first``..end) as float32."""
        lib, batch = self._llama_cpp, self._batch
        self._llm._ctx.kv_cache_clear()
        parts: list[npt.NDArray[np.float32]] = []
        for start in range(0, len(chunk), self.n_batch):
            size = min(self.n_batch, len(chunk) - start)
            outputs = 0
            for k in range(size):
                pos = start + k
                batch.token[k] = chunk[pos]
                batch.pos[k] = pos
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = 0
                batch.logits[k] = pos >= first
                outputs += pos >= first
            batch.n_tokens = size
            status = lib.llama_decode(self._ctx_ptr, batch)
            if status != 0:
                raise EngineError(ErrorKind.INTERNAL, f"llama_decode failed with status {status}")
            if outputs:
                view = np.ctypeslib.as_array(lib.llama_get_logits(self._ctx_ptr), shape=(outputs, self.n_vocab))
                parts.append(np.array(view, dtype=np.float32))  # a copy: the next decode reuses the buffer
            ctx.check_cancelled()
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _tokens(llm: Any, params: Mapping[str, Any], reference: ReferenceLogits | None) -> tuple[list[int], str]:
    if reference is not None:
        return [int(t) for t in reference.tokens], str(reference.meta.get("text_sha256", ""))
    text = read_text(params)
    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    return tokens, hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_quality(llm: Any, params: Mapping[str, Any], ctx: RunContext, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Score the text chunk by chunk; see the module docstring for params and results."""
    reference = load_reference(params["reference"]) if params.get("reference") else None
    write_path = params.get("write_reference")
    if reference is not None and write_path:
        raise _bad("quality takes 'reference' or 'write_reference', not both")
    top_k = _positive(params, "top_k", DEFAULT_TOP_K, 1) or DEFAULT_TOP_K
    n_ctx = _positive(params, "ctx", reference.n_ctx if reference else DEFAULT_CTX, 16) or DEFAULT_CTX
    chunks = _positive(params, "chunks", None, 1)
    if reference is not None:
        if n_ctx != reference.n_ctx:
            raise _bad(f"the reference was scored with ctx {reference.n_ctx}, not {n_ctx}")
        if int(reference.meta.get("n_vocab", -1)) != int(llm.n_vocab()):
            raise _bad(f"the reference's vocabulary has {reference.meta.get('n_vocab')} tokens, this model's "
                       f"{llm.n_vocab()}: KL divergence needs the same tokenizer")
    if n_ctx > int(llm.n_ctx()):
        raise _bad(f"quality ctx {n_ctx} is larger than the loaded context ({llm.n_ctx()}); load the model "
                   f"with n_ctx >= {n_ctx}")
    t0 = time.perf_counter()
    tokens, text_sha = _tokens(llm, params, reference)
    if reference is None and len(tokens) < 2 * n_ctx:
        raise _bad(f"the text tokenizes to {len(tokens)} tokens; a context of {n_ctx} needs at least "
                   f"{2 * n_ctx} (llama-perplexity's rule): use a longer text or a smaller ctx")
    available = reference.n_chunks if reference else len(tokens) // n_ctx
    n_chunks = min(chunks, available) if chunks else available
    add_bos = bool(llm._model.add_bos_token())
    bos = int(llm.token_bos())
    first = n_ctx // 2
    tally = Tally()
    written: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.float32]]] = []
    chunk_ppl: list[float] = []
    decoder = _Decoder(llm, n_ctx)

    def summary() -> dict[str, Any]:
        seconds = time.perf_counter() - t0
        stats = tally.summary()
        result: dict[str, Any] = {
            **stats, "n_ctx": n_ctx, "n_chunks": len(chunk_ppl), "n_chunks_requested": n_chunks,
            "n_vocab": decoder.n_vocab, "n_batch": decoder.n_batch, "add_bos": add_bos,
            "text_tokens": len(tokens), "text_sha256": text_sha, "chunk_ppl": chunk_ppl, "seconds": seconds,
            "tokens_per_s": stats["tokens_scored"] / seconds if seconds > 0 else 0.0,
            "model": {k: facts.get(k) for k in ("name", "quantization", "file_size", "device", "threads")},
        }
        if reference is not None:
            result["reference"] = {k: reference.meta.get(k) for k in ("model", "n_ctx", "n_chunks", "top_k")}
        result["metrics"] = {k: float(v) for k, v in stats.items()
                             if isinstance(v, float) and math.isfinite(v)}
        result["metrics"].update(tokens_scored_per_s=result["tokens_per_s"], quality_s=seconds)
        return result

    try:
        for index in range(n_chunks):
            ctx.check_cancelled()
            start = index * n_ctx
            chunk = tokens[start:start + n_ctx]
            if add_bos:
                chunk[0] = bos
            logits = decoder.chunk_logits(chunk, first, ctx)
            scored = score_logits(logits[: n_ctx - 1 - first])
            targets = np.asarray(tokens[start + first + 1:start + n_ctx], dtype=np.int64)
            tally.nll.append(-scored.log_probs_at(targets))
            if reference is not None:
                ref_nll, ref_ids, ref_lp = reference.chunk(index)
                tally.nll_base.append(ref_nll.astype(np.float64))
                tally.kld.append(kl_top_k(scored, ref_ids, ref_lp))
                tally.same_top.append(scored.argmax == ref_ids[:, 0])
            elif write_path:
                ids, lps = scored.top_k(top_k)
                written.append((tally.nll[-1].astype(np.float32), ids, lps))
            chunk_ppl.append(tally.running_ppl())
            ctx.partial({"chunk": index + 1, "chunks": n_chunks, "ppl": chunk_ppl[-1]})
            ctx.sample("ppl", chunk_ppl[-1])
            ctx.progress(index + 1, n_chunks, f"chunk {index + 1}/{n_chunks}: PPL {chunk_ppl[-1]:.4f}")
    except RunCancelled:
        raise RunCancelled(summary()) from None
    finally:
        decoder.close()
    result = summary()
    if write_path:
        saved = ReferenceLogits(
            {"model": result["model"], "n_ctx": n_ctx, "n_chunks": n_chunks, "top_k": top_k,
             "n_vocab": decoder.n_vocab, "add_bos": add_bos, "text_sha256": text_sha},
            np.asarray(tokens[: n_chunks * n_ctx], dtype=np.int32),
            np.concatenate([w[0] for w in written]), np.concatenate([w[1] for w in written]),
            np.concatenate([w[2] for w in written]))
        size = saved.save(str(write_path))
        result["reference_written"] = {"path": str(write_path), "bytes": size, "top_k": top_k,
                                       "bytes_per_token": size / max(result["tokens_scored"], 1)}
    return result
