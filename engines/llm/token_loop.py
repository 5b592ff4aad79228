"""The chat's token loop: ``Llama.generate`` token for token, without the repetition penalty's full-vocabulary scan.

llama.cpp's penalties sampler looks every candidate of the vocabulary up in a hash map of recent tokens
before any other sampler runs: for a 49k-token vocabulary that is ~1-3 ms per token here, 5-10 % of
SmolLM2's time per output token, to change at most ``last_n`` (64) logits. This loop changes exactly those
logits in llama.cpp's logits buffer (with the sampler's float arithmetic: ``l * p`` for ``l <= 0``,
``l / p`` otherwise, ``p`` as a float32), runs the rest of llama-cpp-python's chain unchanged (grammar, top-k,
typical, top-p, min-p, temperature, dist/greedy, the same seed), then puts the raw logits back so log
probabilities still see them. The window is the sampler's: the last ``last_n`` sampled tokens of this
generation (prompt tokens are not in it). Prompt-prefix reuse, evaluation and the KV cache bookkeeping are
``Llama.generate``'s own (same code paths on the ``Llama`` object), so later turns reuse the cache alike.
Speculative decoding still goes through ``Llama.generate`` (it verifies drafts over several positions).
"""

from __future__ import annotations

import struct
from collections import Counter, deque
from collections.abc import Generator, Sequence
from typing import Any


def _f32(value: float) -> float:
    """``value`` rounded to float32, as llama.cpp stores a sampler parameter."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


class PenaltyWindow:
    """The penalties sampler's state (the last ``last_n`` sampled tokens), applied to the logits buffer."""

    def __init__(self, last_n: int, repeat_penalty: float) -> None:
        self.last_n = last_n
        self.penalty = _f32(repeat_penalty)
        self.active = last_n > 0 and self.penalty != 1.0
        self._recent: deque[int] = deque()
        self._counts: Counter[int] = Counter()

    def apply(self, logits: Any) -> list[tuple[int, float]]:
        """Penalize the recent tokens' logits in place; returns what to restore afterwards."""
        saved = []
        penalty = self.penalty
        for token in self._counts:
            value = logits[token]
            saved.append((token, value))
            # The float32 store rounds the exact double result once: the same value as llama.cpp's float op.
            logits[token] = value * penalty if value <= 0 else value / penalty
        return saved

    def accept(self, token: int) -> None:
        """Record a sampled token (llama.cpp's ring buffer: the oldest leaves when ``last_n`` are held)."""
        if not self.active:
            return
        self._counts[token] += 1
        if len(self._recent) >= self.last_n:
            old = self._recent.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._recent.append(token)


def _reuse_prefix(llm: Any, tokens: list[int]) -> tuple[list[int], bool]:
    """``Llama.generate``'s prompt-cache logic: the tokens still to evaluate, and whether to reset."""
    if llm.n_tokens <= 0:
        return tokens, True
    longest = 0
    for a, b in zip(llm._input_ids, tokens, strict=False):
        if a != b:
            break
        longest += 1
    consumed = longest == len(tokens)
    if llm.n_tokens == len(tokens) and consumed and not llm._requires_eval:
        return [], False  # the logits of the last prompt token are still the current ones
    reuse = longest - 1 if consumed else longest
    if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
        llm.n_tokens = reuse
        llm._requires_eval = True
        return tokens[reuse:], False
    return tokens, True


def _sampler_chain(llm: Any, *, top_k: int, top_p: float, min_p: float, temp: float, grammar: Any) -> Any:
    """llama-cpp-python's chain (``Llama._init_sampler``) minus the penalties sampler."""
    from llama_cpp import _internals

    sampler = _internals.LlamaSampler()
    if grammar is not None:
        sampler.add_grammar(llm._model, grammar)
    if temp < 0.0:
        sampler.add_dist(llm._seed)
    elif temp == 0.0:
        sampler.add_greedy()
    else:
        sampler.add_top_k(top_k)
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(top_p, 1)
        sampler.add_min_p(min_p, 1)
        sampler.add_temp(temp)
        sampler.add_dist(llm._seed)
    return sampler


def generate_tokens(
    llm: Any, prompt: Sequence[int], *, top_k: int, top_p: float, min_p: float, temp: float,
    repeat_penalty: float, grammar: Any = None,
) -> Generator[int, None, None]:
    """Yield sampled tokens as ``llm.generate(prompt, ..., reset=True)`` would (same seed, same tokens)."""
    import llama_cpp

    window = PenaltyWindow(int(llm.last_n_tokens_size), repeat_penalty)
    sampler = _sampler_chain(llm, top_k=top_k, top_p=top_p, min_p=min_p, temp=temp, grammar=grammar)
    llm._sampler = None  # no stale chain of an earlier Llama.generate is used by Llama.sample
    pending, reset = _reuse_prefix(llm, list(prompt))
    if reset:
        llm.reset()
    ctx = llm._ctx
    get_logits = llama_cpp.llama_get_logits_ith
    try:
        llm.eval(pending)
        while True:
            saved = window.apply(get_logits(ctx.ctx, -1)) if window.active else []
            token = int(sampler.sample(ctx, -1))
            if saved:
                logits = get_logits(ctx.ctx, -1)
                for index, value in saved:
                    logits[index] = value
            window.accept(token)
            yield token
            llm.eval([token])
    finally:
        sampler.close()
