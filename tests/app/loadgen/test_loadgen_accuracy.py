"""Every metric the client reports against the scripted server's own send log (same clock), within 2 ms."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from app.loadgen.config import BenchConfig
from app.loadgen.metrics import compute_metrics
from app.loadgen.records import RequestInput, RequestOutput
from app.loadgen.result import BenchResult
from app.loadgen.runner import run_benchmark
from app.loadgen.scripted_server import ScriptedServer

TOLERANCE_MS = 2.0


def _prompts(count: int, words: int, output_len: int) -> list[RequestInput]:
    """Distinct prompts of ``words`` words (the scripted server's tokens)."""
    return [RequestInput(" ".join(f"p{i}x{j}" for j in range(words)), words, output_len) for i in range(count)]


def _truth(server: ScriptedServer, prompts: list[RequestInput], outputs: list[RequestOutput],
           chat: bool) -> list[RequestOutput]:
    """The records a perfect client would have made: the client's send time, the server's chunk times."""
    by_prompt = {(s.body["messages"][0]["content"] if chat else s.body["prompt"]): s for s in server.served}
    truth = []
    for prompt, out in zip(prompts, outputs, strict=True):  # outputs keep the dataset's order
        sent = by_prompt[prompt.prompt].sent
        truth.append(RequestOutput(
            prompt_len=out.prompt_len, success=True, start_time=out.start_time, ttft=sent[0] - out.start_time,
            itl=[b - a for a, b in itertools.pairwise(sent)], latency=sent[-1] - out.start_time,
            output_tokens=out.output_tokens, chunks=len(sent)))
    return truth


def _assert_metrics_match(server: ScriptedServer, prompts: list[RequestInput], result: BenchResult,
                          chat: bool) -> None:
    percentiles = result.config.percentiles
    expected, _ = compute_metrics(_truth(server, prompts, result.outputs, chat), result.duration_s, {}, percentiles)
    timed = [k for k in expected if k.endswith("_ms")]
    assert len(timed) == 4 * (3 + len(percentiles))
    # 2 ms, plus however late the client's event loop was woken during the run, which the result reports
    # (a busy machine that does not schedule the client delays its timestamps; it must say so, not hide it).
    tolerance = TOLERANCE_MS + result.loop_lag_max_ms
    for key in timed:
        assert result.metrics[key] == pytest.approx(expected[key], abs=tolerance), (key, result.loop_lag_max_ms)


@pytest.mark.timeout(60)
def test_completions_metrics_and_counts(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.040, gap_s=0.008, tokens=12)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=6, input_len=24, output_len=12,
                         max_concurrency=2, percentiles=(50.0, 90.0, 99.0), measure_energy=False)
    prompts = _prompts(6, 24, 12)
    result = run_benchmark(config, requests=prompts)
    m = result.metrics
    assert (m["completed"], m["failed"]) == (6, 0)
    assert m["total_output_tokens"] == 6 * 12  # the server's usage
    assert m["total_input_tokens"] == 6 * 24
    assert result.output_lens == [12] * 6
    assert all(o.chunks == 12 and len(o.itl) == 11 for o in result.outputs)
    assert result.token_source == "usage"
    _assert_metrics_match(server, prompts, result, chat=False)
    # And the script itself: the gaps and the TPOT are the scripted 8 ms, the TTFT at least the scripted 40.
    tolerance = TOLERANCE_MS + result.loop_lag_max_ms
    assert m["median_itl_ms"] == pytest.approx(8.0, abs=tolerance)
    assert m["mean_tpot_ms"] == pytest.approx(8.0, abs=tolerance)
    assert m["median_ttft_ms"] >= 40.0
    assert m["max_concurrent_requests"] == 2
    assert m["max_output_tokens_per_s"] == 72.0  # the whole run fits in its first second


@pytest.mark.timeout(60)
def test_chat_role_chunk_first_content_and_tokenizer_counts(scripted: Callable[..., ScriptedServer]) -> None:
    # No usage in the stream: output tokens come from the server's /tokenize (one token per word here).
    server = scripted(ttft_s=0.030, gap_s=0.006, tokens=9, usage=False)
    config = BenchConfig(base_url=server.url, model="scripted", endpoint="chat", num_prompts=4, input_len=16,
                         output_len=9, max_concurrency=1, measure_energy=False)
    prompts = _prompts(4, 16, 9)
    result = run_benchmark(config, requests=prompts)
    m = result.metrics
    assert (m["completed"], m["total_output_tokens"]) == (4, 36)
    assert result.token_source == "server /tokenize"
    for out in result.outputs:
        assert out.chunks == 10  # the role-only chunk counts as the first token's chunk, as in vLLM
        assert out.first_content_ttft is not None and out.first_content_ttft > out.ttft
        assert out.generated_text == "".join(f" w{i}" for i in range(9))
    # TPOT divides the time after the first chunk by n - 1 tokens: 9 gaps over 8 here.
    tolerance = TOLERANCE_MS + result.loop_lag_max_ms
    assert m["mean_tpot_ms"] == pytest.approx(9 * 6.0 / 8, abs=tolerance)
    _assert_metrics_match(server, prompts, result, chat=True)
    extras = result.to_vllm_json()
    assert extras["workbench_median_first_content_ttft_ms"] == pytest.approx(m["median_ttft_ms"] + 6.0,
                                                                             abs=tolerance)


@pytest.mark.timeout(60)
def test_without_usage_or_tokenizer_chunks_are_counted_and_said(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.01, gap_s=0.002, tokens=5, usage=False)
    config = BenchConfig(base_url=server.url, model="scripted", dataset="text", num_prompts=3, input_len=8,
                         output_len=5, tokenizer="none", measure_energy=False)
    result = run_benchmark(config)
    assert result.metrics["total_output_tokens"] == 15
    assert result.token_source.startswith("chunks")
    assert result.to_vllm_json()["workbench_token_count_source"] == result.token_source
    assert result.tokenizer_id is None


@pytest.mark.timeout(60)
def test_goodput_with_slos_around_the_scripted_latency(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.020, gap_s=0.004, tokens=6)
    base = dict(base_url=server.url, model="scripted", num_prompts=4, input_len=8, output_len=6,
                max_concurrency=1, measure_energy=False)
    loose = run_benchmark(BenchConfig(**base, goodput={"ttft": 1000, "tpot": 100}))  # type: ignore[arg-type]
    assert loose.metrics["request_goodput"] == pytest.approx(loose.metrics["request_throughput"])
    strict = run_benchmark(BenchConfig(**base, goodput={"ttft": 10}))  # type: ignore[arg-type]
    assert strict.metrics["request_goodput"] == 0.0  # every TTFT is at least the scripted 20 ms
