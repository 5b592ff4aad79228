"""The result file's keys are ``vllm bench serve``'s; ours carry the ``workbench_`` prefix."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from app.loadgen.config import BenchConfig, SweepPoint
from app.loadgen.export import to_csv, to_json, to_markdown
from app.loadgen.result import BenchResult
from app.loadgen.runner import run_benchmark
from app.loadgen.scripted_server import ScriptedServer

# What vllm/benchmarks/serve.py (main_async + benchmark) writes with --save-result --save-detailed
# --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,99 --max-concurrency N --request-rate R.
VLLM_SETUP = ["date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
              "request_rate", "burstiness", "max_concurrency"]
VLLM_RESULT = ["duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
               "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
               "input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times",
               "generated_texts", "errors", "max_output_tokens_per_s", "max_concurrent_requests", "rtfx"]
VLLM_STATS = [f"{stat}_{metric}_ms" for metric in ("ttft", "tpot", "itl", "e2el", "client_queue_time",
                                                   "e2el_including_client_queue")
              for stat in ("mean", "median", "std", "p50", "p99")]
VLLM_DETAILED_ONLY = {"input_lens", "output_lens", "start_times", "ttfts", "itls", "generated_texts", "errors"}


@pytest.fixture
def result_at_rate(scripted: Callable[..., ScriptedServer]) -> BenchResult:
    server = scripted(ttft_s=0.005, gap_s=0.002, tokens=4)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=4, input_len=8, output_len=4,
                         max_concurrency=2, request_rate=40.0, percentiles=(50.0, 99.0), goodput={"ttft": 500},
                         measure_energy=False)
    return run_benchmark(config)


@pytest.mark.timeout(30)
def test_detailed_keys_match_vllm_bench_serve(result_at_rate: BenchResult) -> None:
    data = result_at_rate.to_vllm_json(detailed=True)
    ours = [k for k in data if not k.startswith("workbench_")]
    assert ours[: len(VLLM_SETUP)] == VLLM_SETUP  # the setup block comes first, in vLLM's order
    assert sorted(ours) == sorted(VLLM_SETUP + VLLM_RESULT + VLLM_STATS)
    assert data["request_rate"] == 40.0 and data["max_concurrency"] == 2 and data["burstiness"] == 1.0
    assert data["backend"] == data["endpoint_type"] == data["label"] == "openai"
    assert len(data["itls"]) == 4 and all(len(gaps) == 3 for gaps in data["itls"])
    assert data["errors"] == [""] * 4
    json.dumps(data)  # plain JSON types only


@pytest.mark.timeout(30)
def test_summary_keys_drop_the_per_request_arrays_as_vllm_does(result_at_rate: BenchResult) -> None:
    data = result_at_rate.to_vllm_json()
    ours = {k for k in data if not k.startswith("workbench_")}
    assert ours == set(VLLM_SETUP + VLLM_RESULT + VLLM_STATS) - VLLM_DETAILED_ONLY
    assert {"workbench_token_count_source", "workbench_median_first_content_ttft_ms",
            "workbench_client_loop_lag_p99_ms", "workbench_warnings"} <= set(data)


@pytest.mark.timeout(30)
def test_unlimited_rate_is_written_inf_and_no_concurrency_keys(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.002, gap_s=0.001, tokens=2)
    config = BenchConfig(base_url=server.url, model="m", endpoint="chat", num_prompts=2, input_len=4,
                         output_len=2, measure_energy=False)
    data = run_benchmark(config).to_vllm_json()
    assert data["request_rate"] == "inf" and data["max_concurrency"] is None
    assert data["backend"] == "openai-chat"
    assert data["request_goodput"] is None  # no SLOs given
    assert not any("client_queue_time" in k for k in data)
    assert config.at(SweepPoint(4)).request_rate == math.inf


@pytest.mark.timeout(30)
def test_exports_md_csv_and_json_lines(result_at_rate: BenchResult) -> None:
    results = [result_at_rate]
    md = to_markdown(results)
    assert md.splitlines()[0].startswith("| point | ok/failed | req/s |")
    assert "| c=2 rate=40 | 4/0 |" in md
    assert "energy: not measured" in md
    assert all(f"warning (c=2 rate=40): {w}" in md for w in result_at_rate.warnings)
    rows = to_csv(results).splitlines()
    assert rows[0].startswith("point,status,completed,failed,duration_s,request_throughput")
    assert rows[1].startswith("c=2 rate=40,ok,4,0,")
    lines = to_json(results * 2).splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["completed"] == 4
