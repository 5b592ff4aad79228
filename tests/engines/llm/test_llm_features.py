"""Prompt-lookup speculative decoding, a second architecture (Gemma 3 base), chat-format overrides and
quantization: each on real llama.cpp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import RequestFailed
from app.model_refs import resolve_model_ref
from app.supervisor import InProcessClient
from core.gguf import read_gguf

PASSAGE = ("The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. "
           "Pack my box with five dozen liquor jugs.")


@pytest.fixture(scope="module")
def speculative(smollm2_path: Path) -> Iterator[InProcessClient]:
    client = InProcessClient.for_engine("llm")
    client.load(str(smollm2_path), "cpu", {"n_ctx": 512, "threads": 1, "prompt_lookup": 8})
    yield client
    client.close()


def test_prompt_lookup_drafts_are_counted_and_change_nothing(speculative: InProcessClient) -> None:
    request = {"messages": [{"role": "user", "content": f"Repeat exactly: {PASSAGE}"}],
               "temperature": 0.0, "max_tokens": 24}
    fast = speculative.call("chat", request)
    plain = speculative.call("chat", {**request, "speculative": False, "cache_prompt": False})
    assert fast["speculative"] is True and plain["speculative"] is False
    # Greedy verification keeps exactly the tokens plain decoding would produce.
    assert fast["text"] == plain["text"]
    metrics = fast["metrics"]
    assert metrics["draft_tokens"] > 0
    assert 0 < metrics["draft_accepted"] <= metrics["draft_tokens"]
    assert metrics["draft_acceptance"] == pytest.approx(metrics["draft_accepted"] / metrics["draft_tokens"])
    assert "draft_tokens" not in plain["metrics"]


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    return resolve_model_ref("gemma3-270m", "llm")


def test_gemma_base_model_benchmarks_but_has_no_chat(gemma_path: Path) -> None:
    assert read_gguf(gemma_path).architecture == "gemma3"
    with InProcessClient.for_engine("llm") as client:
        info = client.load(str(gemma_path), "cpu", {"n_ctx": 256, "threads": 1})
        assert info["can_chat"] is False and info["quantization"] == "Q4_K_M"
        with pytest.raises(RequestFailed, match="has no chat template") as caught:
            client.call("chat", {"prompt": "Hi"})
        assert caught.value.kind == "unsupported"
        completion = client.call("complete", {"prompt": "Monday, Tuesday, Wednesday,", "max_tokens": 4,
                                              "temperature": 0.0})
        assert completion["text"].startswith(" Thursday, Friday")
        bench = client.call("bench", {"n_prompt": 16, "n_gen": 4, "repetitions": 1})
        assert [t["test"] for t in bench["tests"]] == ["pp16", "tg4"]
        # A format named at load time turns the base model into something chat can drive.
        info = client.load(str(gemma_path), "cpu", {"n_ctx": 256, "threads": 1, "chat_format": "gemma"})
        assert info["chat_format"] == "gemma"
        answer = client.call("chat", {"prompt": "Hi", "max_tokens": 3})
        assert answer["gen_tokens"] >= 1


def test_quantize_derives_another_file(speculative: InProcessClient, tmp_path: Path) -> None:
    target = tmp_path / "smollm2-q4_0.gguf"
    result = speculative.call("quantize", {"output": str(target), "type": "Q4_0"})
    assert result["quantization"] == "Q4_0" and result["source_quantization"] == "Q4_1"
    assert result["requantized"] is True and result["bytes"] < result["source_bytes"]
    assert read_gguf(target).quantization == "Q4_0"
    with InProcessClient.for_engine("llm") as client:
        client.load(str(target), "cpu", {"n_ctx": 128})
        assert client.call("complete", {"prompt": "Hello", "max_tokens": 2})["gen_tokens"] >= 1
    with pytest.raises(RequestFailed, match="cannot quantize to 'Q7'"):
        speculative.call("quantize", {"output": str(target), "type": "Q7"})
