"""Variable elimination for single queries: prune barren nodes, slice evidence in, sum out the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engines.bayes.evidence import Evidence
from engines.bayes.factors import ancestors, eliminate, elimination_order, network_factors, product
from engines.bayes.model import BayesNet

DEFAULT_LIMIT = 50_000_000  # entries in one intermediate table


@dataclass
class VeAnswer:
    """Posterior of one target (None where the target is observed hard) and P(evidence)."""

    posterior: np.ndarray
    p_evidence: float


def query(net: BayesNet, target: int, evidence: Evidence, limit: int = DEFAULT_LIMIT,
          check: Callable[[], None] | None = None) -> VeAnswer:
    """P(target | evidence) and P(evidence) by variable elimination on the relevant part of the network."""
    if target in evidence.hard:
        post = np.zeros(net.cards[target])
        post[evidence.hard[target]] = 1.0
        p_e = joint_evidence(net, evidence, limit, check)
        return VeAnswer(post, p_e)
    keep = ancestors(net, {target} | evidence.variables)
    factors = network_factors(net, keep, evidence)
    hidden = keep - {target} - set(evidence.hard)
    order = elimination_order(factors, hidden, net.cards)
    rest = eliminate(factors, order, net.cards, limit, check)
    joint = product(rest, keep=[target]) if rest else None
    table = joint.table if joint is not None and joint.variables == (target,) else np.ones(net.cards[target])
    p_e = float(table.sum())
    post = table / p_e if p_e > 0 else np.full(net.cards[target], np.nan)
    return VeAnswer(post, p_e)


def joint_evidence(net: BayesNet, evidence: Evidence, limit: int = DEFAULT_LIMIT,
                   check: Callable[[], None] | None = None) -> float:
    """P(evidence) by variable elimination."""
    if not evidence.variables:
        return 1.0
    keep = ancestors(net, evidence.variables)
    factors = network_factors(net, keep, evidence)
    hidden = keep - set(evidence.hard)
    rest = eliminate(factors, elimination_order(factors, hidden, net.cards), net.cards, limit, check)
    return float(np.prod([float(f.table.sum()) for f in rest])) if rest else 1.0


def marginals(net: BayesNet, targets: Sequence[int], evidence: Evidence, limit: int = DEFAULT_LIMIT,
              check: Callable[[], None] | None = None) -> tuple[dict[int, np.ndarray], float]:
    """One elimination per target; P(evidence) from the first."""
    out: dict[int, np.ndarray] = {}
    p_e = 1.0
    for k, t in enumerate(targets):
        answer = query(net, t, evidence, limit, check)
        out[t] = answer.posterior
        if k == 0:
            p_e = answer.p_evidence
    if not targets:
        p_e = joint_evidence(net, evidence, limit, check)
    return out, p_e
