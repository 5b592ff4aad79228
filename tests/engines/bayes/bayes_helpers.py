"""Helpers shared by the Bayesian network tests: a recording RunContext, cached networks, pgmpy twins."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from engines.base import RunCancelled
from engines.bayes.catalogue import locate
from engines.bayes.formats.read import read_network
from engines.bayes.model import BayesNet

EXACT_NETWORKS = ("asia", "alarm", "child", "insurance", "hepar2", "win95pts")


class Ctx:
    """A RunContext that records progress and can be cancelled."""

    def __init__(self) -> None:
        self.request_id = "test"
        self.progress_events: list[tuple[float, float | None, str]] = []
        self.cancel = threading.Event()

    def cancel_requested(self) -> bool:
        return self.cancel.is_set()

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise RunCancelled()

    def partial(self, data: Mapping[str, Any]) -> None:
        pass

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        self.progress_events.append((done, total, message))

    def sample(self, series: str, value: float, t: float | None = None) -> None:
        pass


@functools.cache
def network(name: str, normalize: bool = False) -> BayesNet:
    """A catalogue network, parsed once per test session."""
    path = locate(name)
    assert path is not None, f"{name} is missing from resources/networks"
    net, _ = read_network(path, normalize=normalize)
    return net


def leaf_evidence(net: BayesNet, count: int = 5) -> dict[str, str]:
    """Hard evidence on the first ``count`` leaves, each in its most likely state a priori (so P(e) > 0)."""
    kids = net.children()
    leaves = [v for v in range(net.size) if not kids[v]][:count]
    from engines.bayes import ve
    from engines.bayes.evidence import Evidence

    out: dict[str, str] = {}
    hard: dict[int, int] = {}
    for v in leaves:
        post = ve.query(net, v, Evidence(dict(hard), {})).posterior
        hard[v] = int(np.argmax(post))
        out[net.variables[v]] = net.states[v][hard[v]]
    return out
