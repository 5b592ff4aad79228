"""Most probable explanation (all unobserved nodes) and MAP (a subset), by max-product elimination.

MAP on a subset M is the constrained problem max_M sum_rest P: every other variable is summed out before
any variable of M is maximised, then the maximising states are read back in reverse order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from engines.bayes.evidence import Evidence
from engines.bayes.factors import (
    Factor,
    ancestors,
    check_size,
    eliminate,
    elimination_order,
    network_factors,
    product,
)
from engines.bayes.model import BayesNet
from engines.bayes.ve import DEFAULT_LIMIT, joint_evidence


@dataclass
class Explanation:
    """The maximising states and their probability jointly with the evidence."""

    assignment: dict[int, int]
    p_joint: float  # P(assignment, evidence)
    p_evidence: float

    @property
    def p_posterior(self) -> float:
        """P(assignment | evidence)."""
        return self.p_joint / self.p_evidence if self.p_evidence > 0 else float("nan")


def most_probable(net: BayesNet, evidence: Evidence, variables: Iterable[int] | None = None,
                  limit: int = DEFAULT_LIMIT, check: Callable[[], None] | None = None) -> Explanation:
    """MPE when ``variables`` is None, else MAP over ``variables`` (observed ones are left out)."""
    observed = set(evidence.hard)
    wanted = (set(range(net.size)) if variables is None else set(variables)) - observed
    keep = ancestors(net, wanted | evidence.variables)
    factors = network_factors(net, keep, evidence)
    summed = keep - wanted - observed
    pool = eliminate(factors, elimination_order(factors, summed, net.cards), net.cards, limit, check)
    traces: list[tuple[int, tuple[int, ...], np.ndarray]] = []
    for v in elimination_order(pool, wanted, net.cards):
        touching = [f for f in pool if v in f.variables]
        pool = [f for f in pool if v not in f.variables]
        scope = {u for f in touching for u in f.variables}
        check_size(scope, net.cards, limit, "MAP elimination")
        joint = product(touching)
        axis = joint.variables.index(v)
        rest = tuple(u for u in joint.variables if u != v)
        traces.append((v, rest, np.argmax(joint.table, axis=axis)))
        pool.append(Factor(rest, joint.table.max(axis=axis)))
        if check is not None:
            check()
    p_joint = float(np.prod([float(f.table) for f in pool])) if pool else 1.0
    assignment: dict[int, int] = {}
    for v, rest, best in reversed(traces):
        assignment[v] = int(best[tuple(assignment[u] for u in rest)])
    p_e = joint_evidence(net, evidence, limit, check)
    return Explanation(assignment, p_joint, p_e)


def joint_probability(net: BayesNet, assignment: dict[int, int]) -> float:
    """P(full assignment) as the product of CPT entries (every variable must be assigned)."""
    p = 1.0
    for v in range(net.size):
        idx = (*(assignment[u] for u in net.parents[v]), assignment[v])
        p *= float(net.cpts[v][idx])
    return p
