"""Factors (a table over named variables) and the operations variable elimination needs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.evidence import Evidence
from engines.bayes.model import BayesNet


@dataclass(frozen=True)
class Factor:
    """A non-negative table whose axes are ``variables`` in order."""

    variables: tuple[int, ...]
    table: np.ndarray


def product(factors: Sequence[Factor], keep: Iterable[int] | None = None) -> Factor:
    """Multiply factors, then sum out every variable not in ``keep`` (all kept when None), in one einsum."""
    union: list[int] = []
    for f in factors:
        for v in f.variables:
            if v not in union:
                union.append(v)
    out = union if keep is None else [v for v in union if v in set(keep)]
    label = {v: i for i, v in enumerate(union)}
    args: list[object] = []
    for f in factors:
        args += [f.table, [label[v] for v in f.variables]]
    args.append([label[v] for v in out])
    table = np.einsum(*args, optimize=len(factors) > 2)  # type: ignore[call-overload]
    return Factor(tuple(out), np.asarray(table))


def network_factors(net: BayesNet, keep: set[int], evidence: Evidence) -> list[Factor]:
    """The CPTs of ``keep`` with hard evidence sliced in and soft evidence as extra factors."""
    factors = []
    for v in sorted(keep):
        family = (*net.parents[v], v)
        table = net.cpts[v]
        index: list[int | slice] = []
        kept: list[int] = []
        for u in family:
            if u in evidence.hard:
                index.append(evidence.hard[u])
            else:
                index.append(slice(None))
                kept.append(u)
        factors.append(Factor(tuple(kept), np.asarray(table[tuple(index)])))
    for v, lik in evidence.soft.items():
        if v in keep and v not in evidence.hard:
            factors.append(Factor((v,), lik))
        elif v in evidence.hard:
            factors.append(Factor((), np.asarray(lik[evidence.hard[v]])))
    return factors


def ancestors(net: BayesNet, nodes: Iterable[int]) -> set[int]:
    """``nodes`` and all their ancestors (everything else is barren for a query on them)."""
    seen: set[int] = set()
    stack = list(nodes)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        stack.extend(net.parents[v])
    return seen


def elimination_order(factors: Sequence[Factor], eliminate: Iterable[int], cards: Sequence[int]) -> list[int]:
    """Greedy min-fill order (ties: smaller table) over the variables to eliminate."""
    todo = set(eliminate)
    adj: dict[int, set[int]] = {v: set() for v in todo}
    for f in factors:
        for v in f.variables:
            if v in todo:
                adj[v].update(u for u in f.variables if u != v)
    full = {v: set(a) for v, a in adj.items()}
    for v in list(full):
        for u in full[v]:
            full.setdefault(u, set()).add(v)
    order = []
    while todo:
        def cost(v: int) -> tuple[int, float]:
            nb = [u for u in full[v]]
            fill = sum(1 for i, a in enumerate(nb) for b in nb[i + 1:] if b not in full[a])
            return fill, sum(math.log(cards[u]) for u in nb)
        v = min(todo, key=lambda x: (*cost(x), x))
        order.append(v)
        todo.discard(v)
        nb = list(full[v])
        for a in nb:
            full[a].discard(v)
            full[a].update(b for b in nb if b != a)
        del full[v]
    return order


def check_size(variables: Iterable[int], cards: Sequence[int], limit: int, what: str) -> None:
    """Refuse a factor larger than ``limit`` entries before allocating it."""
    size = math.prod(cards[v] for v in variables)
    if size > limit:
        raise EngineError(ErrorKind.OUT_OF_MEMORY, f"{what} would need a table of {size:,} entries "
                          f"({size * 8 / 2**30:.1f} GiB), over the limit of {limit:,}")


def eliminate(factors: list[Factor], order: Sequence[int], cards: Sequence[int], limit: int,
              check: Callable[[], None] | None = None) -> list[Factor]:
    """Sum out ``order`` one variable at a time; returns the factors left."""
    pool = list(factors)
    for v in order:
        touching = [f for f in pool if v in f.variables]
        if not touching:
            continue
        pool = [f for f in pool if v not in f.variables]
        scope = {u for f in touching for u in f.variables}
        check_size(scope, cards, limit, "variable elimination")
        pool.append(product(touching, keep=scope - {v}))
        if check is not None:
            check()
    return pool
