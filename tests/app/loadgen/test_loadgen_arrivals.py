"""The arrival schedule: seeded gamma gaps scaled to count/rate (no sockets)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app.loadgen.arrivals import arrival_offsets


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = arrival_offsets(200, 4.0, 1.0, seed=7)
    assert a == arrival_offsets(200, 4.0, 1.0, seed=7)
    assert a != arrival_offsets(200, 4.0, 1.0, seed=8)


def test_offsets_are_numpys_gamma_draws_rescaled_to_count_over_rate() -> None:
    got = arrival_offsets(50, 2.5, 0.5, seed=3)
    gaps = np.random.RandomState(3).gamma(shape=0.5, scale=1 / (2.5 * 0.5), size=50)
    expected = np.cumsum(gaps) * (50 / 2.5) / gaps.sum()
    assert got == pytest.approx(list(expected), abs=1e-12)
    assert got[-1] == pytest.approx(20.0)  # the last request leaves at count/rate whatever the seed
    assert all(b >= a for a, b in itertools.pairwise(got))


@pytest.mark.parametrize(("burstiness", "cv"), [(1.0, 1.0), (0.25, 2.0), (4.0, 0.5)])
def test_burstiness_sets_the_spread_of_the_gaps(burstiness: float, cv: float) -> None:
    # Gamma(shape b): coefficient of variation 1/sqrt(b) (1 = Poisson arrivals).
    offsets = np.array(arrival_offsets(20_000, 10.0, burstiness, seed=1))
    gaps = np.diff(np.concatenate([[0.0], offsets]))
    assert gaps.mean() == pytest.approx(0.1, rel=1e-9)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.05)


def test_infinite_rate_sends_all_at_once_and_infinite_burstiness_is_even() -> None:
    assert arrival_offsets(5, math.inf) == [0.0] * 5
    assert arrival_offsets(4, 2.0, math.inf) == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert arrival_offsets(0, 1.0) == []
    with pytest.raises(ValueError, match="positive"):
        arrival_offsets(3, 0.0)
