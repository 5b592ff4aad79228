"""Sweeps: one result and one history run per point, per-request series as samples, progress reported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.history import History
from app.loadgen import BenchConfig, BenchProgress, SweepPoint, run_sweep
from app.loadgen.arrivals import arrival_offsets
from app.loadgen.record import ENGINE, OP
from app.loadgen.scripted_server import ScriptedServer


@pytest.mark.timeout(60)
def test_sweep_records_one_run_per_point_with_samples(scripted: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    server = scripted(ttft_s=0.01, gap_s=0.003, tokens=5)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=6, input_len=12, output_len=5,
                         measure_energy=False)
    progress: list[BenchProgress] = []
    history = History(tmp_path / "h.db")
    try:
        results = run_sweep(config, [SweepPoint(1), SweepPoint(3), SweepPoint(None, 50.0)], progress.append,
                            history=history)
        assert [r.config.max_concurrency for r in results] == [1, 3, None]
        assert results[2].config.request_rate == 50.0
        assert [r.metrics["max_concurrent_requests"] for r in results[:2]] == [1, 3]
        # The same prompts at every point.
        assert len({tuple(o.prompt_len for o in r.outputs) for r in results}) == 1
        runs = history.runs(engine=ENGINE)
        assert len(runs) == 3 and {r["op"] for r in runs} == {OP}
        for result in results:
            run = history.get_run(result.run_id or "")
            assert run["status"] == "ok" and run["device"] == f"endpoint:{server.url.removesuffix('/v1')}"
            assert run["params"]["max_concurrency"] == result.config.max_concurrency
            assert run["metrics"]["completed"] == 6
            assert run["metrics"]["ttft_ms"] == result.metrics["median_ttft_ms"]
            assert run["result"]["model_id"] == "scripted"
            series = history.samples(result.run_id or "")
            assert len(series["ttft_ms"]) == len(series["e2el_ms"]) == len(series["tpot_ms"]) == 6
            assert len(series["itl_ms"]) == 6 * 4
            assert [v for _, v in series["ttft_ms"]] == [o.ttft * 1000 for o in result.outputs]
            assert {v for _, v in series["output_tokens"]} == {5.0}
    finally:
        history.close()
    finals = [p for p in progress if p.done == p.total]
    assert [(p.point_index, p.points) for p in finals] == [(0, 3), (1, 3), (2, 3)]
    assert finals[1].label == "concurrency 3" and finals[2].label == "rate 50 req/s"


@pytest.mark.timeout(60)
def test_a_cancelled_sweep_stops_after_its_point(scripted: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    server = scripted(ttft_s=0.01, gap_s=0.02, tokens=10)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=10, input_len=8, output_len=10,
                         measure_energy=False)
    cancel = threading.Event()

    def cancel_after_two(progress: BenchProgress) -> None:  # like a Cancel button pressed mid-point
        if progress.done >= 2:
            cancel.set()

    history = History(tmp_path / "h.db")
    try:
        results = run_sweep(config, [SweepPoint(1), SweepPoint(2)], cancel_after_two, cancel, history=history)
        assert len(results) == 1 and results[0].cancelled
        assert 2 <= results[0].metrics["completed"] < 10
        assert history.get_run(results[0].run_id or "")["status"] == "cancelled"
        assert len(history.runs(engine=ENGINE)) == 1  # the second point never started
    finally:
        history.close()


@pytest.mark.timeout(60)
def test_requests_leave_on_the_seeded_schedule(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ttft_s=0.002, gap_s=0.001, tokens=2)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=12, input_len=4, output_len=2,
                         request_rate=20.0, burstiness=0.5, seed=5, measure_energy=False)
    result = run_sweep(config, [])[0]  # no points: the config's own rate
    data = result.to_vllm_json(detailed=True)
    # When each request was released (its send time less the time it then took to go out).
    released = [sent - queued for sent, queued in zip(data["start_times"], data["queue_times"], strict=True)]
    expected = arrival_offsets(12, 20.0, 0.5, seed=5)
    assert expected[-1] == pytest.approx(0.6)
    for got, planned in zip(released, expected, strict=True):
        assert got == pytest.approx(planned, abs=0.002 + result.loop_lag_max_ms / 1000)
    assert result.config.request_rate == 20.0
