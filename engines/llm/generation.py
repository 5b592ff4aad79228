"""Streaming generation on a loaded ``llama_cpp.Llama``, with a timestamp per token taken right here.

One loop serves ``chat`` and ``complete``: it drives ``Llama.generate`` (which reuses the KV cache for a
shared prompt prefix, so later turns of a conversation only evaluate what is new), turns tokens into UTF-8
text without splitting characters, holds back text that may be the start of a stop string, and sends one
``partial`` per token at most. A stop request is honoured between tokens. Prompt-lookup speculative
decoding (llama-cpp-python's ``LlamaPromptLookupDecoding``) is counted: drafted and accepted tokens.
"""

from __future__ import annotations

import codecs
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import metrics
from engines.base import RunContext
from engines.llm.sampling import SamplingParams
from engines.llm.token_loop import generate_tokens


@dataclass
class Generation:
    """What one generation produced and when each token appeared (``perf_counter`` seconds)."""

    text: str
    stop_reason: str  # eos | length | stop | context_full | cancelled
    token_times: list[float]
    t_request: float
    t_decode_start: float
    prompt_tokens: int
    prompt_cached: int
    n_ctx: int
    context_used: int
    drafted: int = 0
    accepted: int = 0
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None  # per token, when the request asked for them

    def metrics(self) -> dict[str, float]:
        """TTFT, TPOT, ITL percentiles, tokens/s (definitions in :mod:`core.metrics`) and context use."""
        out = metrics.token_metrics(self.t_request, self.token_times, self.prompt_tokens)
        evaluated = self.prompt_tokens - self.prompt_cached
        out["prompt_tokens"] = float(self.prompt_tokens)
        out["prompt_cached_tokens"] = float(self.prompt_cached)
        out.pop("prompt_tokens_per_s", None)
        if self.token_times and evaluated > 0:
            # Prompt speed over the evaluation itself, not the template rendering before it.
            prompt_s = self.token_times[0] - self.t_decode_start
            if prompt_s > 0:
                out["prompt_tokens_per_s"] = evaluated / prompt_s
        out["prepare_ms"] = (self.t_decode_start - self.t_request) * 1000
        out["context_used"] = float(self.context_used)
        out["context_fraction"] = self.context_used / self.n_ctx if self.n_ctx else 0.0
        if self.drafted:
            out["draft_tokens"] = float(self.drafted)
            out["draft_accepted"] = float(self.accepted)
            out["draft_acceptance"] = self.accepted / self.drafted
        return out

    def series(self) -> dict[str, list[list[float]]]:
        """Per-token latency (ms since the previous token; the first since the request) at each token time."""
        points = []
        previous = self.t_request
        for t in self.token_times:
            points.append([t, (t - previous) * 1000])
            previous = t
        return {"token_latency_ms": points}

    def result(self) -> dict[str, Any]:
        """The engine result: text, stop reason, metrics and series."""
        out = {"text": self.text, "stop_reason": self.stop_reason, "metrics": self.metrics(),
               "series": self.series(), "prompt_tokens": self.prompt_tokens,
               "gen_tokens": len(self.token_times), "context_used": self.context_used, "n_ctx": self.n_ctx}
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        return out


class CountingDraft:
    """Wraps a draft model to count what it proposes, so acceptance can be measured as tokens arrive."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.proposed = 0
        self.pending: list[int] = []

    def __call__(self, input_ids: Any, /, **kwargs: Any) -> Any:
        drafted = self.inner(input_ids, **kwargs)
        self.proposed += len(drafted)
        self.pending = [int(t) for t in drafted]
        return drafted


class StopMatcher:
    """Finds stop strings in streamed text, holding back any tail that could still become one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """Text safe to show now, and whether a stop string was reached."""
        if not self.stops:
            return piece, False
        text = self.held + piece
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.held = ""
            return text[: min(hits)], True
        keep = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), keep, -1):
                if stop.startswith(text[-size:]):
                    keep = size
                    break
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What is still held back when generation ends without a stop string."""
        held, self.held = self.held, ""
        return held


class PieceDecoder:
    """Token ids -> UTF-8 text pieces; a character split over tokens comes out whole with the later one."""

    def __init__(self, llm: Any) -> None:
        import llama_cpp

        self._vocab = llm._model.vocab
        self._to_piece = llama_cpp.llama_token_to_piece
        self._buffer = (llama_cpp.ctypes.c_char * 256)()
        self._cache: dict[int, bytes] = {}
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def piece_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing)."""
        cached = self._cache.get(token)
        if cached is None:
            n = self._to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
            cached = self._buffer.raw[: max(n, 0)]
            self._cache[token] = cached
        return cached

    def decode(self, token: int) -> str:
        """Text completed by this token."""
        return self._utf8.decode(self.piece_bytes(token))

    def flush(self) -> str:
        """Whatever incomplete bytes remain, as replacement characters."""
        return self._utf8.decode(b"", final=True)


def cached_prefix(llm: Any, tokens: Sequence[int]) -> int:
    """Prompt tokens ``Llama.generate`` will take from the KV cache instead of evaluating."""
    n_cached = int(llm.n_tokens)
    if n_cached == 0 or not tokens:
        return 0
    previous = llm.input_ids[:n_cached]
    prefix = 0
    for a, b in zip(previous, tokens, strict=False):
        if a != b:
            break
        prefix += 1
    # A fully cached prompt is replayed from its last token to get fresh logits.
    return prefix - 1 if prefix == len(tokens) else prefix


def generate_stream(
    llm: Any, prompt_tokens: Sequence[int], sampling: SamplingParams, ctx: RunContext, *,
    t_request: float, cache_prompt: bool = True, draft: CountingDraft | None = None, emit: bool = True,
    grammar: Any = None, logprobs: int | None = None,
) -> Generation:
    """Generate until EOS, a stop string, max_tokens, a full context or a stop request.

    ``grammar`` (a ``llama_cpp.LlamaGrammar``) constrains the tokens; ``logprobs`` (0..20) records each
    chosen token's log-probability and that many alternatives, from the logits it was sampled from.
    """
    import llama_cpp

    n_ctx = int(llm.n_ctx())
    if not cache_prompt:
        llm.reset()
    prompt = list(prompt_tokens)
    cached = cached_prefix(llm, prompt)
    room = n_ctx - len(prompt)
    wanted = sampling.max_tokens
    limit = room if wanted is None or wanted <= 0 else min(wanted, room)
    llm.set_seed(sampling.seed if sampling.seed is not None else random.randrange(2**31))
    llm.draft_model = draft
    decoder = PieceDecoder(llm)
    matcher = StopMatcher(sampling.stop)
    vocab = llm._model.vocab
    is_eog = llama_cpp.llama_vocab_is_eog
    partial = ctx.partial
    perf_counter = time.perf_counter

    token_times: list[float] = []
    token_ids: list[int] = []
    parts: list[str] = []
    stop_reason = "length"
    pending_draft: list[int] = []
    accepted = 0
    t_decode_start = perf_counter()
    token_logprobs: list[dict[str, Any]] = []
    if draft is None:
        # The same tokens as Llama.generate without its full-vocabulary penalty scan (engines/llm/token_loop.py).
        tokens = generate_tokens(llm, prompt, top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
                                 temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty, grammar=grammar)
    else:  # drafts are verified over several positions at once, which only Llama.generate does
        tokens = llm.generate(prompt, top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
                              temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty, reset=True,
                              grammar=grammar)
    try:
        for token in tokens:
            t = perf_counter()
            if draft is not None:
                if draft.pending:
                    pending_draft, draft.pending = draft.pending, []
                if pending_draft:
                    if pending_draft[0] == token:
                        accepted += 1
                        pending_draft.pop(0)
                    else:
                        pending_draft = []
            if not sampling.ignore_eos and is_eog(vocab, token):
                token_times.append(t)
                stop_reason = "eos"
                break
            token_times.append(t)
            token_ids.append(token)
            text, hit = matcher.feed(decoder.decode(token))
            parts.append(text)
            entry = None
            if logprobs is not None:
                entry = token_logprob(llm, decoder, token, logprobs)
                token_logprobs.append(entry)
            if emit:
                # One message per token, even when its text is held back (half a UTF-8 character, the
                # start of a stop string, a special token): live token counters stay exact.
                data: dict[str, Any] = {"text": text, "t": t, "n": len(token_ids)}
                if entry is not None:
                    data["logprob"] = entry
                partial(data)
            if hit:
                stop_reason = "stop"
                break
            if len(token_ids) >= limit:
                stop_reason = "context_full" if limit == room else "length"
                break
            if ctx.cancel_requested():
                stop_reason = "cancelled"
                break
    finally:
        tokens.close()
        llm.draft_model = None
    if stop_reason != "stop":
        tail = matcher.feed(decoder.flush())[0] + matcher.flush()
        if tail:
            parts.append(tail)
            if emit:
                partial({"text": tail, "t": perf_counter(), "n": len(token_ids)})
    return Generation(
        text="".join(parts), stop_reason=stop_reason, token_times=token_times, t_request=t_request,
        t_decode_start=t_decode_start, prompt_tokens=len(prompt), prompt_cached=cached, n_ctx=n_ctx,
        context_used=len(prompt) + len(token_ids), drafted=draft.proposed if draft else 0, accepted=accepted,
        token_ids=token_ids, logprobs=token_logprobs if logprobs is not None else None,
    )


def token_logprob(llm: Any, decoder: PieceDecoder, token: int, top: int) -> dict[str, Any]:
    """The chosen token's log-probability and the ``top`` likeliest tokens, from the last decoded logits.

    The raw logits (before temperature and the sampler chain), as OpenAI reports them; without
    ``logits_all`` llama.cpp keeps only the last output row, which is the one this token was sampled from.
    """
    import llama_cpp

    return logprob_entry(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), int(llm.n_vocab()), decoder, token, top)


def logprob_entry(logits: Any, n_vocab: int, decoder: PieceDecoder, token: int, top: int) -> dict[str, Any]:
    """The chosen token's log-probability and the ``top`` likeliest, from a raw logits row pointer (as OpenAI)."""
    import ctypes

    import numpy as np

    row = np.ctypeslib.as_array(ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
    values = row.astype(np.float64)
    peak = values.max()
    log_z = peak + np.log(np.exp(values - peak).sum())

    def describe(tid: int) -> dict[str, Any]:
        raw = decoder.piece_bytes(tid)
        return {"token": raw.decode("utf-8", "replace"), "id": tid, "logprob": float(values[tid] - log_z),
                "bytes": list(raw)}

    entry = describe(token)
    if top > 0:
        best = np.argpartition(-values, top)[:top]
        entry["top_logprobs"] = [describe(int(t)) for t in best[np.argsort(-values[best])]]
    else:
        entry["top_logprobs"] = []
    return entry
