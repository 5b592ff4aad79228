"""Energy per run for a local endpoint (RAPL counters from a powercap tree) and the client-capacity warnings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.loadgen import energy
from app.loadgen.capacity import DEFAULT, ClientCapacity, capacity_file, capacity_warnings, client_capacity
from app.loadgen.config import BenchConfig
from app.loadgen.runner import BenchProgress, run_benchmark
from app.loadgen.scripted_server import ScriptedServer


@pytest.mark.timeout(30)
def test_energy_and_joules_per_token_of_a_local_endpoint(scripted: Callable[..., ScriptedServer], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    zone = tmp_path / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    (zone / "energy_uj").write_text("1000000\n")
    monkeypatch.setattr(energy, "POWERCAP_ROOT", tmp_path / "powercap")

    def burn_12_joules(progress: BenchProgress) -> None:  # the counter moves while the requests run
        if progress.done == progress.total:
            (zone / "energy_uj").write_text("13000000\n")

    server = scripted(ttft_s=0.005, gap_s=0.002, tokens=6)
    config = BenchConfig(base_url=server.url, model="scripted", num_prompts=4, input_len=8, output_len=6)
    result = run_benchmark(config, burn_12_joules)
    assert result.energy is not None
    assert result.energy.joules["cpu"] == pytest.approx(12.0)
    data = result.to_vllm_json()
    assert data["workbench_energy_by_device_j"]["cpu"] == pytest.approx(12.0)
    total = data["workbench_energy_j"]
    assert data["workbench_j_per_output_token"] == pytest.approx(total / 24)
    # Where a device cannot be read, the reason is kept instead of a zero.
    assert set(result.energy.joules) | set(result.energy.unavailable) == {"cpu", "cuda:0"}
    assert all(reason for reason in result.energy.unavailable.values())


def test_only_a_local_endpoint_is_measured() -> None:
    assert BenchConfig(base_url="http://127.0.0.1:8080/v1", model="m").is_local
    assert BenchConfig(base_url="http://localhost:8080", model="m").is_local
    assert not BenchConfig(base_url="https://gpu-box.example:8000/v1", model="m").is_local


def test_capacity_warnings_name_what_came_near_the_limit() -> None:
    capacity = ClientCapacity(chunks_per_s=1000, requests_per_s=50, source="test")
    assert capacity_warnings(600, 30, 0.5, capacity) == []
    chunks, requests, lag = capacity_warnings(800, 40, 3.0, capacity)
    assert chunks.startswith("peak 800 chunks/s is 80% of the 1000 chunks/s")
    assert requests.startswith("40.0 req/s is 80% of the 50 req/s")
    assert lag.startswith("the client's event loop ran 3.0 ms late (p99)")


@pytest.mark.timeout(30)
def test_a_run_near_this_machines_saved_capacity_is_flagged(scripted: Callable[..., ScriptedServer]) -> None:
    assert client_capacity() == DEFAULT
    capacity_file().write_text(json.dumps({"chunks_per_s": 10, "requests_per_s": 1000, "source": "test"}))
    try:
        assert client_capacity() == ClientCapacity(10, 1000, "test")
        server = scripted(ttft_s=0.002, gap_s=0.001, tokens=20)
        config = BenchConfig(base_url=server.url, model="scripted", num_prompts=4, input_len=8, output_len=20,
                             measure_energy=False)
        result = run_benchmark(config)
        assert any(w.startswith("peak 80 chunks/s is 800% of the 10 chunks/s") for w in result.warnings)
        assert result.to_vllm_json()["workbench_warnings"] == result.warnings
    finally:
        capacity_file().unlink()
    capacity_file().write_text("not json")
    try:
        assert client_capacity() == DEFAULT  # a damaged file falls back to the measured defaults
    finally:
        capacity_file().unlink()
