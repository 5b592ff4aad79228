"""vLLM's aggregate formulas on hand-made request records (pure functions, exact values)."""

from __future__ import annotations

import numpy as np
import pytest

from app.loadgen.metrics import compute_metrics, peak_output_rate, percentile_key
from app.loadgen.records import RequestOutput


def _out(start: float, ttft: float, itl: list[float], tokens: int, prompt: int = 10) -> RequestOutput:
    return RequestOutput(prompt_len=prompt, success=True, start_time=start, ttft=ttft, itl=itl,
                         latency=ttft + sum(itl), output_tokens=tokens, chunks=len(itl) + 1)


def test_tpot_itl_e2el_and_throughput_follow_vllm() -> None:
    a = _out(0.0, 0.1, [0.02, 0.03, 0.05], tokens=4)
    b = _out(0.5, 0.3, [0.01], tokens=5)  # 2 chunks, 5 tokens: TPOT uses tokens, not chunks
    c = _out(1.0, 0.2, [], tokens=1)  # one token: no TPOT, TPOT 0 for goodput
    failed = RequestOutput(prompt_len=7, error="HTTP 500")
    m, lens = compute_metrics([a, b, failed, c], duration_s=2.0, goodput={}, percentiles=[50, 99, 99.9])
    assert lens == [4, 5, 0, 1]
    assert (m["completed"], m["failed"], m["total_input_tokens"], m["total_output_tokens"]) == (3, 1, 30, 10)
    assert m["request_throughput"] == 1.5
    assert m["output_throughput"] == 5.0
    assert m["total_token_throughput"] == 20.0
    assert m["request_goodput"] is None
    tpots = [(0.1 / 3), 0.01 / 4]
    assert m["mean_tpot_ms"] == pytest.approx(np.mean(tpots) * 1000)
    assert m["std_tpot_ms"] == pytest.approx(np.std(tpots) * 1000)  # ddof 0
    itls = [0.02, 0.03, 0.05, 0.01]  # pooled over requests
    assert m["mean_itl_ms"] == pytest.approx(27.5)
    assert m["median_itl_ms"] == pytest.approx(25.0)
    assert m["p99_itl_ms"] == pytest.approx(np.percentile(itls, 99) * 1000)
    assert m["p50_itl_ms"] == pytest.approx(25.0)  # linear interpolation between 20 and 30
    assert m["p99.9_ttft_ms"] == pytest.approx(np.percentile([0.1, 0.3, 0.2], 99.9) * 1000)
    assert m["mean_e2el_ms"] == pytest.approx(np.mean([0.2, 0.31, 0.2]) * 1000)
    assert m["mean_ttft_ms"] == pytest.approx(200.0)


def test_empty_series_read_as_zero_and_keys_are_named_like_vllm() -> None:
    m, lens = compute_metrics([RequestOutput(error="refused")], 1.0, {"ttft": 100}, [99])
    assert lens == [0]
    assert m["completed"] == 0 and m["failed"] == 1
    assert m["mean_ttft_ms"] == 0.0 and m["p99_itl_ms"] == 0.0
    assert m["request_goodput"] == 0.0
    assert percentile_key(99.9, "itl") == "p99.9_itl_ms"
    assert percentile_key(50.0, "ttft") == "p50_ttft_ms"


def test_goodput_counts_requests_within_every_slo() -> None:
    fast = _out(0.0, 0.1, [0.01] * 9, tokens=10)  # ttft 100 ms, tpot 10 ms, e2el 190 ms
    slow_start = _out(0.0, 0.5, [0.01] * 9, tokens=10)  # ttft 500 ms
    slow_tokens = _out(0.0, 0.1, [0.05] * 9, tokens=10)  # tpot 50 ms
    outputs = [fast, slow_start, slow_tokens]
    m, _ = compute_metrics(outputs, 1.0, {"ttft": 200}, [99])
    assert m["request_goodput"] == 2.0
    m, _ = compute_metrics(outputs, 1.0, {"ttft": 200, "tpot": 20}, [99])
    assert m["request_goodput"] == 1.0
    m, _ = compute_metrics(outputs, 1.0, {"ttft": 100}, [99])  # the SLO bound itself is good (<=)
    assert m["request_goodput"] == 2.0
    m, _ = compute_metrics(outputs, 1.0, {"e2el": 250}, [99])
    assert m["request_goodput"] == 1.0  # slow_start and slow_tokens both run past 250 ms


def test_peak_tokens_per_second_buckets_and_exact_peak_concurrency() -> None:
    # Request 1 emits 3 chunks in second 0 and 2 in second 1; request 2 emits 4 in second 1.
    one = _out(0.0, 0.2, [0.2, 0.2, 0.5, 0.1], tokens=5)  # chunks at 0.2, 0.4, 0.6, 1.1, 1.2
    two = _out(1.2, 0.1, [0.1, 0.1, 0.1], tokens=4)  # starts exactly when one ends: not concurrent
    assert peak_output_rate([one, two]) == (6.0, 1)  # second 1: 1.1, 1.2 from one; 1.3..1.6 from two
    three = _out(0.5, 0.1, [0.1], tokens=2)
    assert peak_output_rate([one, two, three])[1] == 2
    assert peak_output_rate([RequestOutput(error="x")]) == (0.0, 0)
