"""When each request is sent: seeded gamma-distributed gaps, as ``vllm bench serve`` draws them."""

from __future__ import annotations

import math

import numpy as np


def arrival_offsets(count: int, request_rate: float, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Seconds from the start at which each of ``count`` requests is sent.

    Gaps are gamma-distributed with shape ``burstiness`` and scale ``1/(rate*burstiness)`` (burstiness 1 is a
    Poisson process; lower is burstier, higher more even), drawn from numpy's legacy generator seeded with
    ``seed``; then, like vLLM, scaled so the last request leaves at ``count/rate`` exactly, which keeps the
    offered load the same from seed to seed. An infinite rate sends everything at once.
    """
    if count <= 0:
        return []
    if math.isinf(request_rate):
        return [0.0] * count
    if not request_rate > 0 or not burstiness > 0:
        raise ValueError("the request rate and the burstiness must be positive")
    if math.isinf(burstiness):
        gaps = np.full(count, 1.0 / request_rate)
    else:
        rng = np.random.RandomState(seed)
        gaps = rng.gamma(shape=burstiness, scale=1.0 / (request_rate * burstiness), size=count)
    offsets = np.cumsum(gaps)
    if offsets[-1] > 0:
        offsets *= (count / request_rate) / offsets[-1]
    return [float(x) for x in offsets]
