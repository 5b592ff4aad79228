"""The memory-bandwidth probe and model-bandwidth utilisation."""

from __future__ import annotations

import time

import pytest

from app.compare.bandwidth import Bandwidth, bandwidth_for, model_bandwidth_utilisation, probe_cpu_bandwidth


def test_the_probe_is_short_and_plausible() -> None:
    t0 = time.perf_counter()
    measured = probe_cpu_bandwidth(size_mib=64, passes=3)
    assert time.perf_counter() - t0 < 5
    # Any machine this runs on copies between 0.3 GB/s (heavily shared VM) and 2 TB/s.
    assert 0.3 < measured.gb_per_s < 2000
    assert measured.method.startswith("measured")


def test_mbu_is_model_bytes_times_rate_over_bandwidth() -> None:
    bandwidth = Bandwidth(10e9, "measured: test")
    assert model_bandwidth_utilisation(100e6, 50.0, bandwidth) == pytest.approx(0.5)
    assert bandwidth_for("cpu", bandwidth) is bandwidth
    assert bandwidth_for("dml:0", bandwidth) is None
