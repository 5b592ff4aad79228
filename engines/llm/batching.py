"""Continuous batching: ``parallel`` chat/complete requests decoded together by one scheduler thread.

The scheduler owns a llama.cpp context of its own, made with ``n_seq_max = parallel`` and
``n_ctx = n_ctx × parallel`` without a unified KV cache, so every sequence has the whole context the user
asked for (llama.cpp gives each of the ``n_seq_max`` streams ``n_ctx / n_seq_max`` cells; nothing is divided
silently). Each step is one ``llama_decode`` carrying the next token of every generating sequence plus prompt
chunks of newly admitted ones (up to ``n_batch`` tokens in all); a waiting request is admitted as soon as a
sequence frees. Per sequence: its KV cells (``llama_memory_seq_rm``; a freed sequence keeps its tokens, so a
later request sharing a prefix — the next turn of a chat — evaluates only what is new), its sampler chain
(the single path's: grammar, top-k, typical, top-p, min-p, temperature, dist with the request's seed, greedy
at temperature 0; the repetition penalty on the last 64 sampled tokens as engines/llm/token_loop.py applies
it) and its text handling (UTF-8 pieces, stop strings, one partial per token with its timestamp taken when
the token was sampled). Requests arrive from the worker's request threads and wait for their sequence.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.base import EngineError, ErrorKind, RunContext
from engines.llm.generation import Generation, PieceDecoder, StopMatcher, logprob_entry
from engines.llm.sampling import SamplingParams
from engines.llm.token_loop import PenaltyWindow

_PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size, as the single path uses it


@dataclass
class BatchRequest:
    """One generation handed to the scheduler; ``done`` is set once ``generation`` or ``error`` is."""

    prompt: list[int]
    sampling: SamplingParams
    ctx: RunContext
    t_request: float
    grammar: Any = None  # a llama_cpp.LlamaGrammar
    logprobs: int | None = None
    emit: bool = True
    done: threading.Event = field(default_factory=threading.Event)
    generation: Generation | None = None
    error: BaseException | None = None


class _Sequence:
    """A request while it holds a sequence id: what is still to evaluate and what it produced."""

    def __init__(self, request: BatchRequest, seq_id: int, reused: int, llm: Any, n_ctx: int) -> None:
        self.request = request
        self.seq_id = seq_id
        self.prompt_cached = reused
        self.n_past = reused
        self.pending = request.prompt[reused:]  # tokens to evaluate next (a prompt chunk, then one token)
        self.prefilling = True
        sampling = request.sampling
        room = n_ctx - len(request.prompt)
        wanted = sampling.max_tokens
        self.room = room
        self.limit = room if wanted is None or wanted <= 0 else min(wanted, room)
        self.window = PenaltyWindow(_PENALTY_LAST_N, sampling.repeat_penalty)
        self.decoder = PieceDecoder(llm)
        self.matcher = StopMatcher(sampling.stop)
        self.token_times: list[float] = []
        self.token_ids: list[int] = []
        self.parts: list[str] = []
        self.logprobs: list[dict[str, Any]] = []
        self.stop_reason = "length"
        self.sampler: Any = None  # made at the first sample, so a cancel while prefilling costs nothing
        self.t_decode_start = time.perf_counter()


class BatchScheduler:
    """Owns a multi-sequence llama.cpp context and decodes every running request in one batch per step."""

    def __init__(self, llm: Any, *, parallel: int, n_ctx: int, n_batch: int) -> None:
        import llama_cpp

        self._llm = llm
        self._lib = llama_cpp
        self.parallel = parallel
        self.n_ctx = n_ctx  # per sequence
        self.n_batch = max(n_batch, parallel)
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * parallel
        params.n_seq_max = parallel
        params.kv_unified = False  # a stream per sequence: each holds n_ctx cells of its own
        params.n_batch = self.n_batch
        params.n_ubatch = min(int(params.n_ubatch), self.n_batch)
        params.embeddings = False
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise EngineError(ErrorKind.OUT_OF_MEMORY,
                              f"llama.cpp could not create a context for {parallel} sequences of {n_ctx} tokens; "
                              "lower parallel or the context")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._vocab = llm._model.vocab
        self._n_vocab = int(llm.n_vocab())
        self._waiting: deque[BatchRequest] = deque()
        self._running: list[_Sequence] = []
        self._free = list(range(parallel))
        self._kv_tokens: dict[int, list[int]] = {i: [] for i in range(parallel)}  # what each sequence's KV holds
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="llm-batch", daemon=True)
        self._thread.start()

    # --- requests -----------------------------------------------------------------------------------
    def generate(self, request: BatchRequest) -> Generation:
        """Queue ``request`` and wait for its generation (called from a request thread)."""
        with self._cond:
            if self._closed:
                raise EngineError(ErrorKind.INTERNAL, "the model was unloaded")
            self._waiting.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.generation is not None
        return request.generation

    @property
    def busy(self) -> int:
        """Sequences generating now."""
        return len(self._running)

    def close(self) -> None:
        """Stop the scheduler (requests still waiting fail) and free the context."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        lib = self._lib
        lib.llama_batch_free(self._batch)
        lib.llama_free(self._ctx)
        self._ctx = None

    # --- the loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._running:
                    self._cond.wait()
                if self._closed:
                    break
                admitted = self._admit_locked()
            for request in admitted:
                self._start(request)
            try:
                self._step()
            except Exception as exc:  # a failed decode ends the requests in it, never the scheduler
                for seq in list(self._running):
                    self._fail(seq, exc)
        for seq in list(self._running):
            self._fail(seq, EngineError(ErrorKind.INTERNAL, "the model was unloaded"))
        with self._cond:
            waiting, self._waiting = list(self._waiting), deque()
        for request in waiting:
            request.error = EngineError(ErrorKind.INTERNAL, "the model was unloaded")
            request.done.set()

    def _admit_locked(self) -> list[BatchRequest]:
        admitted: list[BatchRequest] = []
        while self._waiting and len(admitted) < len(self._free):
            admitted.append(self._waiting.popleft())
        # Cancelled while waiting behind full slots: answered at once, with nothing generated.
        for request in [r for r in self._waiting if r.ctx.cancel_requested()]:
            self._waiting.remove(request)
            admitted.append(request)
        return admitted

    def _start(self, request: BatchRequest) -> None:
        if request.ctx.cancel_requested() or not self._free:
            seq = _Sequence(request, -1, 0, self._llm, self.n_ctx)
            seq.stop_reason = "cancelled"
            self._finish(seq)
            return
        seq_id, reused = self._pick(request.prompt)
        self._free.remove(seq_id)
        seq = _Sequence(request, seq_id, reused, self._llm, self.n_ctx)
        self._running.append(seq)

    def _pick(self, prompt: Sequence[int]) -> tuple[int, int]:
        """The free sequence sharing the longest prefix with ``prompt``, its KV cut back to that prefix."""
        best, best_len = self._free[0], -1
        for seq_id in self._free:
            length = _common_prefix(self._kv_tokens[seq_id], prompt)
            if length > best_len:
                best, best_len = seq_id, length
        reuse = min(best_len, len(prompt) - 1)  # the last prompt token is evaluated again for fresh logits
        if reuse <= 0 or not self._lib.llama_memory_seq_rm(self._mem, best, reuse, -1):
            self._lib.llama_memory_seq_rm(self._mem, best, -1, -1)
            reuse = 0
        self._kv_tokens[best] = list(prompt[:reuse])
        return best, reuse

    def _step(self) -> None:
        for seq in [s for s in self._running if s.request.ctx.cancel_requested()]:
            seq.stop_reason = "cancelled"
            self._finish(seq)
        if not self._running:
            return
        batch = self._batch
        n = 0
        outputs: list[tuple[_Sequence, int]] = []
        fed: list[tuple[_Sequence, list[int]]] = []
        # Generating sequences first (one token each), so a long prompt never stalls the running answers.
        for seq in sorted(self._running, key=lambda s: s.prefilling):
            room = self.n_batch - n
            if room <= 0:
                break
            chunk = seq.pending[:room]
            last = len(chunk) == len(seq.pending)
            for offset, token in enumerate(chunk):
                batch.token[n] = token
                batch.pos[n] = seq.n_past + offset
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq.seq_id
                batch.logits[n] = last and offset == len(chunk) - 1
                n += 1
            if last:
                outputs.append((seq, n - 1))
            fed.append((seq, chunk))
        batch.n_tokens = n
        code = self._lib.llama_decode(self._ctx, batch)
        if code != 0:
            raise EngineError(ErrorKind.INTERNAL, f"llama_decode failed ({code}) for a batch of {n} tokens")
        for seq, chunk in fed:
            seq.n_past += len(chunk)
            seq.pending = seq.pending[len(chunk):]
            self._kv_tokens[seq.seq_id].extend(chunk)
        for seq, index in outputs:
            seq.prefilling = False
            self._sample(seq, index)

    def _sample(self, seq: _Sequence, index: int) -> None:
        lib = self._lib
        request = seq.request
        if seq.sampler is None:
            seq.sampler = _sampler_chain(self._llm, request.sampling, request.grammar)
        logits = lib.llama_get_logits_ith(self._ctx, index)
        saved = seq.window.apply(logits) if seq.window.active else []
        token = int(lib.llama_sampler_sample(seq.sampler.sampler, self._ctx, index))
        for position, value in saved:
            logits[position] = value  # log-probabilities see the raw logits, as in the single path
        seq.window.accept(token)
        t = time.perf_counter()
        sampling = request.sampling
        if not sampling.ignore_eos and lib.llama_vocab_is_eog(self._vocab, token):
            seq.token_times.append(t)
            seq.stop_reason = "eos"
            self._finish(seq)
            return
        seq.token_times.append(t)
        seq.token_ids.append(token)
        text, hit = seq.matcher.feed(seq.decoder.decode(token))
        seq.parts.append(text)
        entry = None
        if request.logprobs is not None:
            entry = logprob_entry(logits, self._n_vocab, seq.decoder, token, request.logprobs)
            seq.logprobs.append(entry)
        if request.emit:
            data: dict[str, Any] = {"text": text, "t": t, "n": len(seq.token_ids)}
            if entry is not None:
                data["logprob"] = entry
            request.ctx.partial(data)
        if hit:
            seq.stop_reason = "stop"
        elif len(seq.token_ids) >= seq.limit:
            seq.stop_reason = "context_full" if seq.limit == seq.room else "length"
        elif request.ctx.cancel_requested():
            seq.stop_reason = "cancelled"
        else:
            seq.pending = [token]
            return
        self._finish(seq)

    def _finish(self, seq: _Sequence) -> None:
        request = seq.request
        if seq.stop_reason != "stop":
            tail = seq.matcher.feed(seq.decoder.flush())[0] + seq.matcher.flush()
            if tail:
                seq.parts.append(tail)
                if request.emit:
                    request.ctx.partial({"text": tail, "t": time.perf_counter(), "n": len(seq.token_ids)})
        request.generation = Generation(
            text="".join(seq.parts), stop_reason=seq.stop_reason, token_times=seq.token_times,
            t_request=request.t_request, t_decode_start=seq.t_decode_start, prompt_tokens=len(request.prompt),
            prompt_cached=seq.prompt_cached, n_ctx=self.n_ctx,
            context_used=len(request.prompt) + len(seq.token_ids), token_ids=seq.token_ids,
            logprobs=seq.logprobs if request.logprobs is not None else None,
        )
        self._release(seq)
        request.done.set()

    def _fail(self, seq: _Sequence, error: BaseException) -> None:
        if seq.seq_id >= 0:
            # What the failed decode left in this sequence's cells is unknown: forget it all.
            self._lib.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
            self._kv_tokens[seq.seq_id] = []
        self._release(seq)
        seq.request.error = error
        seq.request.done.set()

    def _release(self, seq: _Sequence) -> None:
        if seq.sampler is not None:
            seq.sampler.close()
            seq.sampler = None
        if seq in self._running:
            self._running.remove(seq)
        if seq.seq_id >= 0 and seq.seq_id not in self._free:
            self._free.append(seq.seq_id)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _sampler_chain(llm: Any, sampling: SamplingParams, grammar: Any) -> Any:
    """The single path's chain (engines/llm/token_loop.py) with this request's own seed."""
    from llama_cpp import _internals

    seed = sampling.seed if sampling.seed is not None else random.randrange(2**31)
    sampler = _internals.LlamaSampler()
    if grammar is not None:
        sampler.add_grammar(llm._model, grammar)
    temp = sampling.temperature
    if temp == 0.0:
        sampler.add_greedy()
    else:
        sampler.add_top_k(sampling.top_k)
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(sampling.top_p, 1)
        sampler.add_min_p(sampling.min_p, 1)
        sampler.add_temp(temp)
        sampler.add_dist(seed)
    return sampler


