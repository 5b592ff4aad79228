"""llama-bench's measurement loops on the low-level llama.cpp API, in a context of their own.

``tools/llama-bench/llama-bench.cpp`` (the llama.cpp vendored in llama-cpp-python) measures each test in a
fresh ``llama_context`` sized to the test (``n_ctx = n_prompt + n_gen``), clears the KV cache before every
repetition (outside the timed region), and times:

* pp: the prompt as ``llama_batch_get_one`` batches of up to ``n_batch`` random tokens (BOS first where the
  vocabulary adds one), logits for the last token only, then ``llama_synchronize``;
* tg: ``n_gen`` one-token batches (logits for that token, as a sampler would need), ``llama_synchronize``
  after each, random tokens, no sampling.

This module does exactly that through ctypes, with no work per token beyond the calls themselves: no
``Llama.eval`` bookkeeping, no logits copied out. A stop request is honoured between tokens (tg) and,
through llama.cpp's abort callback, inside a prompt batch (pp; the callback runs once per graph node,
which costs nothing measurable against a whole batch but would against one token, so tg has none).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from engines.base import EngineError, ErrorKind, RunCancelled

# llama_decode's return value for "aborted by the abort callback".
_ABORTED = 2
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}  # llama_flash_attn_type


class BenchContext:
    """A ``llama_context`` on an already loaded model, configured the way llama-bench configures its own."""

    def __init__(self, model: Any, *, n_ctx: int, n_batch: int, n_ubatch: int, type_k: int, type_v: int,
                 flash_attn: str, threads: int, threads_batch: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_ubatch
        params.type_k = type_k
        params.type_v = type_v
        params.flash_attn_type = FLASH_ATTN[flash_attn]
        params.offload_kqv = True
        params.embeddings = False
        params.swa_full = False
        params.n_threads = threads
        params.n_threads_batch = threads_batch
        self._ctx = llama_cpp.llama_init_from_model(model, params)
        if not self._ctx:
            raise EngineError(ErrorKind.OUT_OF_MEMORY, f"llama.cpp could not create a {n_ctx}-token context "
                              "for the benchmark; lower -p/-n or free memory")
        vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self.n_batch = n_batch
        # llama-bench starts every prompt (and generation) with BOS where the vocabulary adds one.
        self.first_token = (int(llama_cpp.llama_vocab_bos(vocab))
                            if llama_cpp.llama_vocab_get_add_bos(vocab) else None)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._tokens = (llama_cpp.llama_token * max(n_batch, 1))()
        self._abort_check: Callable[[], bool] | None = None
        # Kept referenced for as long as llama.cpp may call it.
        self._abort_callback = llama_cpp.ggml_abort_callback(self._on_abort_poll)

    def _on_abort_poll(self, _data: Any) -> bool:
        check = self._abort_check
        return bool(check is not None and check())

    def clear(self) -> None:
        """Empty the KV cache (``llama_memory_clear(mem, false)``, as llama-bench does before each run)."""
        self._lib.llama_memory_clear(self._memory, False)

    def positions(self) -> int:
        """Tokens the KV cache holds (sequence 0): what the last runs really evaluated."""
        return int(self._lib.llama_memory_seq_pos_max(self._memory, 0)) + 1

    def _first(self, rng: random.Random) -> int:
        return self.first_token if self.first_token is not None else rng.randrange(self.n_vocab)

    def prompt(self, n_prompt: int, rng: random.Random, cancelled: Callable[[], bool]) -> float:
        """Evaluate ``n_prompt`` random tokens in batches; seconds taken (llama-bench's ``test_prompt``)."""
        lib, ctx, tokens, n_vocab = self._lib, self._ctx, self._tokens, self.n_vocab
        randrange = rng.randrange
        self._abort_check = cancelled
        lib.llama_set_abort_callback(ctx, self._abort_callback, None)
        try:
            t0 = time.perf_counter()
            done = 0
            while done < n_prompt:
                n = min(n_prompt - done, self.n_batch)
                tokens[0] = self._first(rng) if done == 0 else randrange(n_vocab)
                for i in range(1, n):
                    tokens[i] = randrange(n_vocab)
                status = lib.llama_decode(ctx, lib.llama_batch_get_one(tokens, n))
                self._check(status, "prompt batch")
                done += n
            lib.llama_synchronize(ctx)
            return time.perf_counter() - t0
        finally:
            lib.llama_set_abort_callback(ctx, lib.ggml_abort_callback(), None)  # NULL: none
            self._abort_check = None

    def generate(self, n_gen: int, rng: random.Random, cancelled: Callable[[], bool]) -> float:
        """Decode ``n_gen`` one-token batches; seconds taken (llama-bench's ``test_gen``)."""
        lib, ctx, tokens, n_vocab = self._lib, self._ctx, self._tokens, self.n_vocab
        decode, synchronize, get_one, randrange = (lib.llama_decode, lib.llama_synchronize,
                                                   lib.llama_batch_get_one, rng.randrange)
        check = self._check
        token = self._first(rng)
        t0 = time.perf_counter()
        for _ in range(n_gen):
            tokens[0] = token
            status = decode(ctx, get_one(tokens, 1))
            if status:
                check(status, "generation step")
            synchronize(ctx)
            token = randrange(n_vocab)
            if cancelled():
                raise RunCancelled()
        return time.perf_counter() - t0

    def _check(self, status: int, what: str) -> None:
        if status == _ABORTED:
            raise RunCancelled()
        if status != 0:
            raise EngineError(ErrorKind.INTERNAL, f"llama_decode failed on a benchmark {what} (status {status})")

    def close(self) -> None:
        """Free the context (the model stays loaded)."""
        if self._ctx:
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def __enter__(self) -> BenchContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
