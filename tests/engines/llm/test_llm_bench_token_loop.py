"""The chat's token loop (engines/llm/token_loop.py): exactly Llama.generate's tokens, on real llama.cpp."""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.llm.token_loop import PenaltyWindow, generate_tokens

PROMPT = (b"<|im_start|>user\nWrite a short poem about the sea and say sea often.<|im_end|>\n"
          b"<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def llm(smollm2_path: Path) -> Iterator[Any]:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(smollm2_path), n_ctx=1024, n_threads=1, n_threads_batch=1,
                            verbose=False)
    yield model
    model.close()


def _take(tokens: Iterator[int], n: int) -> list[int]:
    out = list(itertools.islice(tokens, n))
    tokens.close()  # type: ignore[attr-defined]
    return out


def _both(llm: Any, prompt: list[int], n: int, seed: int, grammar: Any = None,
          **chain: Any) -> tuple[list[int], list[int]]:
    llm.set_seed(seed)
    llm.reset()
    reference = _take(llm.generate(prompt, reset=True, grammar=grammar, **chain), n)
    llm.set_seed(seed)
    llm.reset()
    ours = _take(generate_tokens(llm, prompt, grammar=grammar, **chain), n)
    return reference, ours


@pytest.mark.parametrize("chain", [
    {"temp": 0.0, "repeat_penalty": 1.1},  # greedy: the penalty alone decides between repeats
    {"temp": 0.8, "repeat_penalty": 1.1},
    {"temp": 1.3, "repeat_penalty": 1.5},
    {"temp": 0.8, "repeat_penalty": 1.0},  # penalty off
])
def test_same_tokens_as_llama_generate(llm: Any, chain: dict[str, Any]) -> None:
    prompt = llm.tokenize(PROMPT, add_bos=False, special=True)
    # 80 tokens: more than the 64-token penalty window, so tokens also leave it.
    reference, ours = _both(llm, prompt, 80, seed=1234, top_k=40, top_p=0.95, min_p=0.05, **chain)
    assert len(ours) == 80
    assert ours == reference


def test_same_tokens_under_a_grammar(llm: Any) -> None:
    import llama_cpp

    grammar = llama_cpp.LlamaGrammar.from_string('root ::= [a-z ]+ "."', verbose=False)
    prompt = llm.tokenize(PROMPT, add_bos=False, special=True)
    reference, ours = _both(llm, prompt, 30, seed=9, grammar=grammar, top_k=40, top_p=0.95, min_p=0.05,
                            temp=0.7, repeat_penalty=1.1)
    assert ours == reference
    text = llm.detokenize(ours).decode()
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz .")


def test_a_second_turn_reuses_the_cached_prompt(llm: Any) -> None:
    chain = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "temp": 0.8, "repeat_penalty": 1.1}
    first_prompt = llm.tokenize(PROMPT, add_bos=False, special=True)
    follow = llm.tokenize(b"<|im_end|>\n<|im_start|>user\nOne more.<|im_end|>\n<|im_start|>assistant\n",
                          add_bos=False, special=True)
    llm.set_seed(5)
    llm.reset()
    first = _take(generate_tokens(llm, first_prompt, **chain), 12)
    second_prompt = first_prompt + first + follow
    evaluated_before = llm.n_tokens
    assert evaluated_before == len(first_prompt) + 11  # the last sampled token is never evaluated
    llm.set_seed(6)
    ours = _take(generate_tokens(llm, second_prompt, **chain), 12)
    # Llama.generate's own run of both turns gives the same tokens.
    llm.set_seed(5)
    llm.reset()
    _take(llm.generate(first_prompt, reset=True, **chain), 12)
    llm.set_seed(6)
    assert _take(llm.generate(second_prompt, reset=True, **chain), 12) == ours


def test_penalty_window_matches_llama_cpp_float_arithmetic_and_ring_buffer() -> None:
    window = PenaltyWindow(last_n=3, repeat_penalty=1.1)
    logits = (ctypes.c_float * 8)(*[2.5, -1.25, 0.0, 3.3, -7.1, 1e-8, 5.0, -0.5])
    raw = np.frombuffer(logits, dtype=np.float32).copy()
    for token in (1, 3, 3, 5):  # 1 leaves the 3-token window when 5 arrives
        window.accept(token)
    saved = window.apply(logits)
    assert sorted(saved) == [(3, float(raw[3])), (5, float(raw[5]))]
    penalty = np.float32(1.1)
    # llama.cpp: logit * p when logit <= 0, logit / p otherwise, in float32.
    assert logits[3] == raw[3] / penalty and logits[5] == raw[5] / penalty
    assert logits[1] == raw[1]  # out of the window: untouched
    for index, value in saved:
        logits[index] = value  # the loop restores the raw logits after sampling
    assert list(logits) == list(raw)
    window.accept(4)
    window.accept(4)  # the window is now 5, 4, 4
    again = window.apply(logits)
    assert {t for t, _ in again} == {4, 5}
    assert logits[4] == raw[4] * penalty and logits[3] == raw[3]
    assert PenaltyWindow(last_n=64, repeat_penalty=1.0).active is False
