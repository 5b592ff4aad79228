"""The in-memory Bayesian network: variables, states, parents and CPTs as float64 arrays.

A CPT is an ndarray shaped ``(card(parent_1), ..., card(parent_k), card(child))`` in C order: the child
varies fastest, then the last parent. Most file formats list values in exactly this order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engines.base import EngineError, ErrorKind


@dataclass
class BayesNet:
    """A discrete Bayesian network addressed by variable index (names map to indices)."""

    name: str
    variables: list[str]
    states: list[list[str]]
    parents: list[tuple[int, ...]]
    cpts: list[np.ndarray]
    source: str = ""  # the file it came from, for messages
    index: dict[str, int] = field(init=False, repr=False)
    cards: list[int] = field(init=False, repr=False)  # number of states of each variable

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.variables)}
        self.cards = [len(s) for s in self.states]

    @property
    def size(self) -> int:
        """Number of variables."""
        return len(self.variables)

    def var(self, name: str) -> int:
        """Index of the variable ``name``; EngineError naming close matches otherwise."""
        try:
            return self.index[name]
        except KeyError:
            raise EngineError(ErrorKind.BAD_INPUT, f"unknown node {name!r} in network {self.name!r}"
                              + did_you_mean(name, self.variables)) from None

    def state(self, var: int, state: str) -> int:
        """Index of ``state`` of variable ``var``; a numeric index is accepted too."""
        try:
            return self.states[var].index(state)
        except ValueError:
            pass
        if state.isdigit() and int(state) < len(self.states[var]) and state not in self.states[var]:
            return int(state)
        raise EngineError(ErrorKind.BAD_INPUT, f"node {self.variables[var]!r} has no state {state!r} "
                          f"(states: {', '.join(self.states[var])})")

    def children(self) -> list[list[int]]:
        """Children of every variable."""
        kids: list[list[int]] = [[] for _ in self.variables]
        for child, pars in enumerate(self.parents):
            for p in pars:
                kids[p].append(child)
        return kids

    def edges(self) -> list[tuple[str, str]]:
        """Every arc as ``(parent, child)`` names."""
        return [(self.variables[p], self.variables[c]) for c, pars in enumerate(self.parents) for p in pars]

    def topological_order(self) -> list[int]:
        """Parents before children; EngineError naming a cycle when there is one."""
        return topological_order(self.variables, self.parents, self.source)


def topological_order(names: Sequence[str], parents: Sequence[Sequence[int]], source: str = "") -> list[int]:
    """Kahn's algorithm; a cycle is reported with the nodes on it."""
    n = len(names)
    kids: list[list[int]] = [[] for _ in range(n)]
    missing = [len(p) for p in parents]
    for child, pars in enumerate(parents):
        for p in pars:
            kids[p].append(child)
    ready = [i for i in range(n) if missing[i] == 0]
    order: list[int] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for kid in kids[node]:
            missing[kid] -= 1
            if missing[kid] == 0:
                ready.append(kid)
    if len(order) < n:
        cycle = _find_cycle([i for i in range(n) if missing[i] > 0], parents)
        where = f"{source}: " if source else ""
        raise EngineError(ErrorKind.BAD_INPUT, f"{where}the network has a cycle: "
                          + " -> ".join(names[i] for i in cycle))
    return order


def _find_cycle(stuck: list[int], parents: Sequence[Sequence[int]]) -> list[int]:
    # Every stuck node has a stuck parent, so walking parents from any of them must revisit a node.
    stuck_set = set(stuck)
    seen: dict[int, int] = {}
    path: list[int] = []
    node = stuck[0]
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in parents[node] if p in stuck_set)
    cycle = [*path[seen[node]:], node]
    cycle.reverse()  # walked child -> parent; show parent -> child
    return cycle


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """' (did you mean X, Y?)' naming close matches of ``name`` in ``known``, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""
