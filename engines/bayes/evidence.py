"""Evidence as users give it (``A=s1,B=s2``, ``C=0.2:0.8``, dicts) turned into likelihood vectors.

Hard evidence ``X = s`` is the indicator vector of ``s``; soft (likelihood, "virtual") evidence is any
non-negative vector over the states. Both end up as one likelihood per observed variable, so exact and
approximate inference treat them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.model import BayesNet


@dataclass
class Evidence:
    """Hard findings (variable -> state index) and soft ones (variable -> likelihood vector)."""

    hard: dict[int, int] = field(default_factory=dict)
    soft: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def variables(self) -> set[int]:
        """Every variable with a finding."""
        return set(self.hard) | set(self.soft)

    def likelihoods(self, cards: Sequence[int]) -> dict[int, np.ndarray]:
        """One (1, card) likelihood per observed variable (hard and soft on the same variable multiply)."""
        out: dict[int, np.ndarray] = {}
        for v, s in self.hard.items():
            vec = np.zeros((1, cards[v]))
            vec[0, s] = 1.0
            out[v] = vec
        for v, lik in self.soft.items():
            out[v] = out[v] * lik[None, :] if v in out else lik[None, :].copy()
        return out

    def describe(self, net: BayesNet) -> dict[str, Any]:
        """The findings by name, for results."""
        return {
            "hard": {net.variables[v]: net.states[v][s] for v, s in self.hard.items()},
            "soft": {net.variables[v]: lik.tolist() for v, lik in self.soft.items()},
        }


def parse_evidence(net: BayesNet, hard: Any = None, soft: Any = None) -> Evidence:
    """Read hard evidence (``"A=s1,B=s2"`` or ``{A: s1}``) and soft evidence (``"C=0.2:0.8"``,
    ``{C: [0.2, 0.8]}`` or ``{C: {state: weight}}``); unknown nodes and states are BAD_INPUT errors."""
    ev = Evidence()
    for name, value in _pairs(hard, "evidence"):
        v = net.var(name)
        if v in ev.hard:
            raise _twice(net, v, "evidence", net.states[v][ev.hard[v]], value)
        ev.hard[v] = net.state(v, str(value).strip())
    for name, value in _pairs(soft, "soft evidence"):
        v = net.var(name)
        if v in ev.soft:
            raise _twice(net, v, "soft evidence", ":".join(f"{x:g}" for x in ev.soft[v]), value)
        ev.soft[v] = _likelihood(net, v, value)
    return ev


def _twice(net: BayesNet, v: int, what: str, first: Any, second: Any) -> EngineError:
    # A node named twice is a typo or two findings that contradict each other; neither may pass silently.
    return EngineError(ErrorKind.BAD_INPUT, f"{what} names {net.variables[v]!r} twice ({net.variables[v]}="
                       f"{first} and {net.variables[v]}={second}); give one finding per node")


def _pairs(spec: Any, what: str) -> list[tuple[str, Any]]:
    if spec is None or spec == "":
        return []
    if isinstance(spec, Mapping):
        return [(str(k).strip(), val) for k, val in spec.items()]
    if isinstance(spec, str):
        pairs = []
        for item in spec.split(","):
            if not item.strip():
                continue
            name, eq, value = item.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise EngineError(ErrorKind.BAD_INPUT, f"{what}: expected NODE=VALUE, got {item.strip()!r}")
            pairs.append((name.strip(), value.strip()))
        return pairs
    if isinstance(spec, Sequence):
        out = []
        for item in spec:
            if not (isinstance(item, Sequence) and len(item) == 2):
                raise EngineError(ErrorKind.BAD_INPUT, f"{what}: expected (node, value) pairs, got {item!r}")
            out.append((str(item[0]), item[1]))
        return out
    raise EngineError(ErrorKind.BAD_INPUT, f"{what}: expected a mapping or 'NODE=VALUE,...', got {spec!r}")


def _likelihood(net: BayesNet, v: int, value: Any) -> np.ndarray:
    name, states = net.variables[v], net.states[v]
    if isinstance(value, str):
        parts = value.split(":")
        try:
            vec = np.array([float(p) for p in parts])
        except ValueError:
            raise EngineError(ErrorKind.BAD_INPUT, f"soft evidence on {name!r}: expected numbers separated "
                              f"by ':' (one per state: {', '.join(states)}), got {value!r}") from None
    elif isinstance(value, Mapping):
        vec = np.zeros(len(states))
        for state, weight in value.items():
            vec[net.state(v, str(state))] = float(weight)
    else:
        try:
            vec = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise EngineError(ErrorKind.BAD_INPUT, f"soft evidence on {name!r}: expected a list of "
                              f"numbers, got {value!r}") from None
    if vec.size != len(states):
        raise EngineError(ErrorKind.BAD_INPUT, f"soft evidence on {name!r} has {vec.size} value(s); the node "
                          f"has {len(states)} states ({', '.join(states)})")
    if not np.all(np.isfinite(vec)) or np.any(vec < 0):
        raise EngineError(ErrorKind.BAD_INPUT, f"soft evidence on {name!r} must be non-negative numbers")
    if not np.any(vec > 0):
        raise EngineError(ErrorKind.BAD_INPUT, f"soft evidence on {name!r} rules out every state")
    return vec


def batch_likelihoods(net: BayesNet, rows: Sequence[Evidence]) -> dict[int, np.ndarray]:
    """Stack many evidence sets into (B, card) likelihoods; a row without a finding on X gets ones."""
    cards = net.cards
    variables = sorted(set().union(*(r.variables for r in rows))) if rows else []
    out = {v: np.ones((len(rows), cards[v])) for v in variables}
    for b, row in enumerate(rows):
        for v, lik in row.likelihoods(cards).items():
            out[v][b] = lik[0]
    return out
