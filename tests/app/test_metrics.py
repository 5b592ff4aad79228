"""Metric definitions."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics import (
    itl_s,
    latency_summary,
    mean_std,
    percentile,
    token_metrics,
    tpot_s,
    ttft_s,
)


def test_token_timing_definitions() -> None:
    times = [1.2, 1.3, 1.5, 1.6]
    assert ttft_s(1.0, times) == pytest.approx(0.2)
    assert tpot_s(times) == pytest.approx(0.4 / 3)
    assert itl_s(times) == pytest.approx([0.1, 0.2, 0.1])
    metrics = token_metrics(1.0, times, prompt_tokens=50)
    assert metrics["ttft_ms"] == pytest.approx(200)
    assert metrics["prompt_tokens_per_s"] == pytest.approx(250)
    assert metrics["gen_tokens_per_s"] == pytest.approx(7.5)
    assert metrics["gen_tokens"] == 4 and metrics["e2e_ms"] == pytest.approx(600)
    assert ttft_s(1.0, []) is None and tpot_s([1.0]) is None


def test_percentiles_match_numpy() -> None:
    values = list(np.random.default_rng(0).exponential(10, size=101))
    for q in (50, 90, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    summary = latency_summary(values)
    assert summary["latency_median_ms"] == pytest.approx(float(np.median(values)))
    mean, std = mean_std(values)
    assert std == pytest.approx(float(np.std(values, ddof=1)))
    assert mean == pytest.approx(float(np.mean(values)))
