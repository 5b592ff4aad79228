"""Continuous batching (load option ``parallel``) with the real SmolLM2 through ModelService and its worker.

Batch invariance: llama.cpp's kernels may round differently when a decode carries more tokens, so a
greedy answer computed beside others may part from the one computed alone where the two likeliest tokens
are (almost) tied. The equivalence test therefore compares token by token and, where two answers part,
requires that the two top logits of that step were within rounding of each other; it prints how often that
happened. Identical answers cannot be guaranteed: here one of these four prompts (a gap of 0.004) and 2 of
16 in ``bench/serve.py --invariance 16`` (gaps 0.017 and 0.036, one of them at the first token, computed
from prompts prefilled together) parted; llama-server has the same property.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from app.messages import Partial
from app.recording import RunOutcome
from app.service import ModelService
from app.service.tickets import Ticket

MODEL = "smollm2-135m-instruct"
N_CTX = 256
OPTIONS = {"n_ctx": N_CTX, "parallel": 4}
PROMPTS = ("What is the capital of France?", "Name three colours.", "Count from one to five.",
           "Say hello in Spanish.")
# Two top logits this close count as a tie that batched rounding may break either way: logits here are
# ~10-30 and the batched kernels quantize activations and sum in other groupings (splits measured at gaps up
# to 0.036).
TIE_LOGITS = 0.05


@pytest.fixture(scope="module")
def service() -> Iterator[ModelService]:
    svc = ModelService(None)  # the default parallel: the engine spec's "parallel" load option
    yield svc
    svc.close()


def _submit(service: ModelService, prompt: str, **params: Any) -> Ticket:
    body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0.0, "seed": 7,
            "max_tokens": 24, **params}
    return service.submit("llm", MODEL, "chat", body, options=OPTIONS, threads=1, record=False)


def _outcome(ticket: Ticket) -> RunOutcome:
    outcome = ticket.outcome(timeout=300)
    assert outcome.ok, outcome.error
    return outcome


def _token_times(ticket: Ticket) -> list[float]:
    return [float(e.data["t"]) for e in ticket.events(timeout=300) if isinstance(e, Partial) and "n" in e.data]


def _ids(result: Mapping[str, Any]) -> list[int]:
    return [int(entry["id"]) for entry in result["logprobs"]]


def test_load_gives_every_sequence_the_full_context(service: ModelService) -> None:
    info = service.load("llm", MODEL, options=OPTIONS, threads=1).outcome(timeout=300).result
    assert info is not None
    assert info["parallel"] == 4 and info["n_ctx"] == N_CTX
    memory = info["parallel_memory"]
    assert memory["n_ctx_per_sequence"] == N_CTX and memory["kv_cells"] == N_CTX * 5
    assert memory["kv_cache_bytes"] >= 4 * memory["kv_cache_bytes_per_sequence"] > 0
    slot = service.slot("llm", MODEL)
    assert slot is not None and slot.state == "ready"


def test_four_at_once_match_one_at_a_time(service: ModelService) -> None:
    alone = [_outcome(_submit(service, p, ignore_eos=True, logprobs=2)).result for p in PROMPTS]
    tickets = [_submit(service, p, ignore_eos=True, logprobs=2) for p in PROMPTS]
    together = [_outcome(t).result for t in tickets]
    # They did run together: every answer's first token came before every other answer's last one.
    spans = [(min(ts), max(ts)) for ts in (_token_times(t) for t in tickets)]
    assert max(first for first, _ in spans) < min(last for _, last in spans)
    splits = []
    for a, b in zip(alone, together, strict=True):
        assert a is not None and b is not None
        assert b["batched"] is True and b["gen_tokens"] == a["gen_tokens"] == 24
        ids_a, ids_b = _ids(a), _ids(b)
        part = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b, strict=True)) if x != y), None)
        if part is None:
            assert a["text"] == b["text"]
            continue
        # Where they part, the step alone had two near-equal top logits and the batch took the other one.
        top = a["logprobs"][part]["top_logprobs"]
        gap = top[0]["logprob"] - top[1]["logprob"]  # a logprob difference is the logit difference
        assert gap < TIE_LOGITS, f"answers part at token {part} with a top-2 logit gap of {gap:.4f}"
        assert ids_b[part] in {top[0]["id"], top[1]["id"]}
        splits.append((part, gap))
    print(f"batch invariance: {len(PROMPTS) - len(splits)}/{len(PROMPTS)} answers identical; near-tie splits {splits}")


def test_cancel_one_of_four_mid_stream(service: ModelService) -> None:
    tickets = [_submit(service, p, ignore_eos=True) for p in PROMPTS]
    victim = tickets[1]
    for event in victim.events(timeout=300):
        if isinstance(event, Partial) and int(event.data.get("n", 0)) >= 3:
            victim.cancel()
            break
    cancelled = victim.outcome(timeout=300)
    assert cancelled.result is not None and cancelled.result["stop_reason"] == "cancelled"
    assert 3 <= cancelled.result["gen_tokens"] < 24
    for ticket in tickets[:1] + tickets[2:]:
        result = _outcome(ticket).result
        assert result is not None and result["stop_reason"] == "length" and result["gen_tokens"] == 24


def test_request_admitted_while_others_run(service: ModelService) -> None:
    late_alone = _outcome(_submit(service, PROMPTS[3], ignore_eos=True)).result
    first = [_submit(service, p, ignore_eos=True) for p in PROMPTS[:2]]
    started = threading.Event()

    def watch(event: object) -> None:
        if isinstance(event, Partial) and int(event.data.get("n", 0)) >= 4:
            started.set()

    first[0].add_listener(watch)
    assert started.wait(300)
    late = _submit(service, PROMPTS[3], ignore_eos=True)
    late_result = _outcome(late).result
    early_last = max(max(_token_times(t)) for t in first)
    assert min(_token_times(late)) < early_last  # it joined the running batch, not waited for it to end
    assert late_result is not None and late_alone is not None and late_result["text"] == late_alone["text"]
    metrics = late_result["metrics"]
    for key in ("ttft_ms", "tpot_ms", "gen_tokens", "prompt_tokens", "gen_tokens_per_s", "context_used"):
        assert key in metrics, key
    assert late_result["n_ctx"] == N_CTX


def test_stop_string_ends_one_sequence(service: ModelService) -> None:
    alone = _outcome(_submit(service, PROMPTS[0], ignore_eos=True)).result
    assert alone is not None
    text = alone["text"]
    stop = text[len(text) // 2: len(text) // 2 + 4]  # four characters from the middle of the answer alone
    assert len(stop.strip()) >= 2, text
    other = _submit(service, PROMPTS[1], ignore_eos=True)
    stopped = _outcome(_submit(service, PROMPTS[0], ignore_eos=True, stop=[stop])).result
    assert stopped is not None and stopped["stop_reason"] == "stop"
    assert stopped["text"] == text[: text.find(stop)]
    assert _outcome(other).result["gen_tokens"] == 24  # type: ignore[index]


def test_context_full_for_two_sequences_at_once(service: ModelService) -> None:
    # Two prompts 8 tokens short of the context, decoded together: each reaches its own full context.
    def count(words: int) -> int:
        result = service.submit("llm", MODEL, "count", {"text": " tree" * words}, options=OPTIONS, threads=1,
                                record=False).outcome(timeout=300).result
        assert result is not None
        return int(result["tokens"])

    per_word = count(101) - count(100)
    assert per_word == 1
    base = count(100) - 100  # a BOS, as complete tokenizes
    prompt = " tree" * (N_CTX - 8 - base)
    tickets = [service.submit("llm", MODEL, "complete", {"prompt": prompt, "max_tokens": 24, "temperature": 0.0,
                                                         "ignore_eos": True}, options=OPTIONS, threads=1,
                              record=False) for _ in range(2)]
    for ticket in tickets:
        result = _outcome(ticket).result
        assert result is not None
        assert result["stop_reason"] == "context_full" and result["context_used"] == N_CTX
        assert result["gen_tokens"] == 8
    too_long = service.submit("llm", MODEL, "complete", {"prompt": prompt + " tree" * 20}, options=OPTIONS,
                              threads=1, record=False).outcome(timeout=300)
    assert not too_long.ok and str(N_CTX) in (too_long.error or "")


def test_grammar_constrains_one_sequence_beside_others(service: ModelService) -> None:
    free = _submit(service, PROMPTS[0])
    constrained = _outcome(_submit(service, "Is Paris in France? Answer yes or no.",
                                   grammar='root ::= ("yes" | "no") "."', max_tokens=8)).result
    assert constrained is not None and constrained["text"] in ("yes.", "no.")
    assert constrained["stop_reason"] == "eos"
    assert _outcome(free).ok


def test_parallel_option_is_checked() -> None:
    from engines.base import EngineError
    from engines.llm.options import parse_load_options

    assert parse_load_options({"parallel": "3"}).parallel == 3
    for bad in (0, 65, "many"):
        with pytest.raises(EngineError):
            parse_load_options({"parallel": bad})


def test_streamed_partials_carry_per_token_times(service: ModelService) -> None:
    ticket = _submit(service, PROMPTS[1], ignore_eos=True)
    events = list(ticket.events(timeout=300))
    partials = [e.data for e in events if isinstance(e, Partial)]
    result = _outcome(ticket).result
    assert result is not None
    counted = [p for p in partials if p["n"] >= 1]
    assert [p["n"] for p in counted][:24] == list(range(1, 25))
    assert "".join(str(p["text"]) for p in partials) == result["text"]
    times = [float(p["t"]) for p in counted[:24]]
    assert times == sorted(times) and times[-1] <= time.perf_counter()
