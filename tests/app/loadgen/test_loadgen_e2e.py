"""``workbench bench serve`` against a real ``workbench serve`` (uvicorn on 127.0.0.1) and the real SmolLM2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.history import History
from app.loadgen.record import ENGINE, OP
from app.service import ModelService
from server.config import ServerConfig
from server.runner import ServerThread
from server.service import effective, make_service

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server as ``workbench serve --parallel 2`` builds it (port 0, one thread, small context); its URL."""
    config = effective(ServerConfig(port=0, n_ctx=512, threads=1, max_tokens_limit=64, parallel=2))
    history = History(tmp_path_factory.mktemp("served") / "history.sqlite")
    service: ModelService = make_service(history, config, ttl_s=None, queue_limit=64)
    server = ServerThread(service, config).start()
    try:
        yield server.address
    finally:
        server.stop()
        service.close()
        history.close()


@pytest.mark.timeout(300)
def test_bench_serve_against_workbench_serve_and_smollm2(served: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e2e.json"
    code = main(["bench", "serve", "--base-url", served + "/v1", "--model", MODEL, "--endpoint", "chat",
                 "--input-len", "16", "--output-len", "4", "--num-prompts", "6", "--max-concurrency", "1,2",
                 "--json", str(out), "--detailed"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    points = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["max_concurrency"] for p in points] == [1, 2]
    for point in points:
        assert point["completed"] == 6 and point["failed"] == 0, point["errors"]
        # The server streams usage (stream_options.include_usage), so the counts are the model's own.
        assert point["workbench_token_count_source"] == "usage"
        assert point["total_output_tokens"] == sum(point["output_lens"]) > 0
        assert all(0 < n <= 4 for n in point["output_lens"])
        # The chat template adds tokens: the server's prompt_tokens exceed the 16 the dataset asked for.
        assert all(n >= 16 for n in point["input_lens"])
        assert all(t > 0 for t in point["ttfts"])
        assert 0 < point["median_ttft_ms"] <= point["p99_ttft_ms"] < point["p99_e2el_ms"] < 60_000
        assert point["output_throughput"] > 0 and point["request_throughput"] > 0
        assert point["max_concurrent_requests"] <= point["max_concurrency"]
    recorded = [line.split()[-1] for line in captured.err.splitlines() if line.startswith("recorded ")]
    assert len(recorded) == 2
    history = History()
    try:
        runs = {r["id"]: r for r in history.runs(engine=ENGINE)}
        for run_id, point in zip(recorded, points, strict=True):
            run = runs[run_id]
            assert run["op"] == OP and run["status"] == "ok" and run["device"] == f"endpoint:{served}"
            ttfts = history.samples(run_id, "ttft_ms")["ttft_ms"]
            assert len(ttfts) == 6
            assert sorted(v for _, v in ttfts) == pytest.approx(sorted(t * 1000 for t in point["ttfts"]))
    finally:
        history.close()
