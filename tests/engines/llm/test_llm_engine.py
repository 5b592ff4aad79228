"""The LLM engine on real llama.cpp with the starter model, in-process (one load for the module)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import RequestFailed
from app.messages import Partial, Progress
from app.supervisor import InProcessClient
from tests.support.cancelling import cancel_after

CHAT = [{"role": "user", "content": "Count from one to ten in words."}]


@pytest.fixture(scope="module")
def client(smollm2_path: Path) -> Iterator[InProcessClient]:
    engine = InProcessClient.for_engine("llm")
    engine.load(str(smollm2_path), "cpu", {"n_ctx": 1024, "threads": 1})
    yield engine
    engine.close()


def _chat(client: InProcessClient, **params: Any) -> tuple[dict[str, Any], list[Partial]]:
    partials: list[Partial] = []
    result = client.call("chat", {"messages": CHAT, "temperature": 0.0, "max_tokens": 12, **params},
                         on_event=lambda e: partials.append(e) if isinstance(e, Partial) else None)
    return dict(result), partials


def test_load_reports_the_model_and_settings(client: InProcessClient) -> None:
    info = client.model_info
    assert info["architecture"] == "llama" and info["quantization"] == "Q4_1"
    assert info["n_ctx"] == 1024 and info["n_ctx_train"] == 8192 and info["threads"] == 1
    assert info["can_chat"] is True and info["chat_format"] == "gguf"
    assert info["memory"]["verdict"] == "fits in RAM"
    assert info["memory"]["kv_cache_bytes"] == 2 * 30 * 1024 * 3 * 64 * 2  # layers x ctx x kv heads x dim x f16
    assert info["gpu_layers"] == 0 and info["device"] == "cpu"


def test_chat_streams_tokens_with_worker_timestamps(client: InProcessClient) -> None:
    result, partials = _chat(client)
    assert partials, "no token was streamed"
    assert "".join(p.data["text"] for p in partials) == result["text"]
    times = [p.data["t"] for p in partials]
    assert times == sorted(times)
    assert [p.data["n"] for p in partials] == list(range(1, 13))  # one message per token
    metrics = result["metrics"]
    for key in ("ttft_ms", "tpot_ms", "gen_tokens_per_s", "prompt_tokens_per_s", "prompt_tokens", "gen_tokens",
                "context_used", "itl_p90_ms"):
        assert metrics[key] > 0, key
    assert result["stop_reason"] == "length" and metrics["gen_tokens"] == 12
    assert metrics["context_used"] == metrics["prompt_tokens"] + 12
    series = result["series"]["token_latency_ms"]
    assert len(series) == 12
    assert series[0][1] == pytest.approx(metrics["ttft_ms"])
    assert "1" in result["text"]  # SmolLM2 counts "1. 1\n2. 2..." greedily


def test_greedy_answers_repeat_and_seeds_are_honoured(client: InProcessClient) -> None:
    first, _ = _chat(client, cache_prompt=False)
    second, _ = _chat(client, cache_prompt=False)
    assert first["text"] == second["text"]
    sampled = [_chat(client, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=11)[0]["text"]
               for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_stop_mid_answer_keeps_what_was_written(client: InProcessClient) -> None:
    handle = client.submit("chat", {"messages": CHAT, "temperature": 0.0, "max_tokens": 400})
    pieces = [p.data["text"] for p in cancel_after(handle, 3, timeout=60)]
    result = handle.result()
    assert result["stop_reason"] == "cancelled"
    assert result["text"] == "".join(pieces)
    assert 3 <= result["metrics"]["gen_tokens"] <= 6  # stopped between tokens, right after the request


def test_multi_turn_uses_the_context_and_reuses_the_kv_cache(client: InProcessClient) -> None:
    question = {"role": "user", "content": "What is my favourite fruit?"}
    alone = client.call("chat", {"messages": [question], "temperature": 0.0, "max_tokens": 16})
    assert "mango" not in alone["text"].lower()
    history = [{"role": "user", "content": "My favourite fruit is mango."},
               {"role": "assistant", "content": "Got it: your favourite fruit is mango."}]
    first = client.call("chat", {"messages": [*history, question], "temperature": 0.0, "max_tokens": 16})
    assert "mango" in first["text"].lower()
    history += [question, {"role": "assistant", "content": first["text"]},
                {"role": "user", "content": "Thanks!"}]
    second = client.call("chat", {"messages": history, "temperature": 0.0, "max_tokens": 4})
    assert second["metrics"]["prompt_tokens"] > first["metrics"]["prompt_tokens"]
    # The shared prefix comes from the KV cache; only the new turn is evaluated.
    assert second["metrics"]["prompt_cached_tokens"] >= first["metrics"]["prompt_tokens"] - 1


def test_stop_strings_and_raw_completion(client: InProcessClient) -> None:
    result = client.call("complete", {"prompt": "1, 2, 3, 4,", "temperature": 0.0, "max_tokens": 20,
                                      "stop": [" 7"]})
    assert result["stop_reason"] == "stop"
    assert result["text"].startswith(" 5, 6,") and "7" not in result["text"]
    longer = client.call("complete", {"prompt": "Once upon a time", "max_tokens": 5, "ignore_eos": True,
                                      "temperature": 0.0})
    assert longer["gen_tokens"] == 5 and longer["stop_reason"] == "length"


def test_tokenize_count_and_info(client: InProcessClient) -> None:
    tokens = client.call("tokenize", {"text": "Hello world"})
    assert tokens["count"] == len(tokens["tokens"]) == 2
    assert "".join(tokens["pieces"]) == "Hello world"
    counted = client.call("count", {"messages": CHAT})
    assert counted["n_ctx"] == 1024 and 10 < counted["tokens"] < 60 and counted["fits"] is True
    info = client.call("info")
    assert info["metadata"]["general.architecture"] == "llama"
    assert "<|im_start|>" in info["chat_template"]
    assert "CPU" in info["system_info"]


def test_bench_reports_every_sample(client: InProcessClient) -> None:
    before = _chat(client)[0]["text"]
    progress: list[Progress] = []
    result = client.call("bench", {"n_prompt": 32, "n_gen": 8, "repetitions": 2},
                         on_event=lambda e: progress.append(e) if isinstance(e, Progress) else None)
    assert [t["test"] for t in result["tests"]] == ["pp32", "tg8"]
    for test in result["tests"]:
        assert len(test["samples_ts"]) == len(test["samples_ns"]) == 2
        assert test["avg_ts"] == pytest.approx(sum(test["samples_ts"]) / 2)
        assert test["stddev_ts"] >= 0
    assert result["metrics"]["pp_tokens_per_s"] > result["metrics"]["tg_tokens_per_s"] > 0
    assert len(result["series"]["tg_tokens_per_s"]) == 2
    assert result["model"]["threads"] == 1 and result["model"]["n_batch"] == 512
    assert progress and progress[-1].message == "done"
    # The cache holds random tokens afterwards: a chat right after still answers normally.
    assert _chat(client)[0]["text"] == before


@pytest.mark.parametrize(("params", "words"), [
    ({"messages": [{"role": "user", "content": "x " * 1500}]}, "prompt is 15\\d\\d tokens but the context holds 1024"),
    ({"messages": []}, "non-empty list"),
    ({"messages": CHAT, "temperature": -1}, "temperature"),
    ({}, "needs 'messages'"),
])
def test_bad_requests_are_refused(client: InProcessClient, params: dict[str, Any], words: str) -> None:
    with pytest.raises(RequestFailed, match=words) as caught:
        client.call("chat", params)
    assert caught.value.kind == "bad_input"


def test_bench_context_and_unknown_op(client: InProcessClient) -> None:
    with pytest.raises(RequestFailed, match="bench needs a context of 2048"):
        client.call("bench", {"n_prompt": 2048, "n_gen": 0})
    with pytest.raises(RequestFailed, match="no op 'dance'"):
        client.call("dance")


def test_a_chat_from_another_thread_is_cancelled_promptly(client: InProcessClient) -> None:
    handle = client.submit("chat", {"messages": CHAT, "max_tokens": 500, "temperature": 0.0})
    timer = threading.Timer(0.5, handle.cancel)
    timer.start()
    result = handle.result(timeout=30)
    timer.join()
    assert result["stop_reason"] == "cancelled"
    assert result["metrics"]["gen_tokens"] < 100
