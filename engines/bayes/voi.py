"""Value of information: which unobserved node would tell us most about a target.

The expected entropy reduction of target T from observing X is the mutual information I(T; X | e). One
batched calibration with T clamped to each of its states gives P(X | e, T=t) for every X at once, so
ranking all nodes costs |T| propagations in a single call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.evidence import Evidence
from engines.bayes.propagation import CompiledTree


@dataclass
class VoiRanking:
    """Mutual information (bits) of each candidate with the target, best first."""

    target: int
    target_entropy: float  # H(T | e), bits
    posterior: np.ndarray  # P(T | e)
    ranking: list[tuple[int, float]]  # (variable, I(T; X | e) in bits)


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy in bits (0 log 0 = 0)."""
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def rank(tree: CompiledTree, target: int, evidence: Evidence, candidates: Iterable[int] | None = None,
         check: Callable[[], None] | None = None) -> VoiRanking:
    """Rank ``candidates`` (default: every unobserved node but the target) by I(T; X | e)."""
    net = tree.net
    if target in evidence.hard:
        raise EngineError(ErrorKind.BAD_INPUT, f"{net.variables[target]!r} is already observed: "
                          "there is nothing left to learn about it")
    ops = tree.ops
    cards = net.cards
    base_lik = evidence.likelihoods(cards)
    pool = [v for v in (candidates if candidates is not None else range(net.size))
            if v != target and v not in evidence.hard]
    prior = tree.calibrate({v: ops.asarray(a) for v, a in base_lik.items()}, [target, *pool], check)
    if not np.isfinite(prior.log_evidence[0]):
        raise EngineError(ErrorKind.BAD_INPUT, "the evidence has probability zero")
    p_t = prior.marginals[target][0]
    states = [t for t in range(cards[target]) if p_t[t] > 0]
    batch = len(states)
    lik: dict[int, np.ndarray] = {v: np.repeat(a, batch, axis=0) for v, a in base_lik.items()}
    clamp = np.zeros((batch, cards[target]))
    clamp[np.arange(batch), states] = 1.0
    lik[target] = lik[target] * clamp if target in lik else clamp
    cond = tree.calibrate({v: ops.asarray(a) for v, a in lik.items()}, pool, check)
    weights = p_t[states]
    scores = []
    for v in pool:
        p_x = prior.marginals[v][0]
        p_xt = cond.marginals[v]  # (batch, card)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p_xt > 0, p_xt * np.log2(p_xt / p_x[None, :]), 0.0)
        scores.append((v, max(0.0, float(weights @ terms.sum(axis=1)))))
    scores.sort(key=lambda item: (-item[1], item[0]))
    return VoiRanking(target, entropy_bits(p_t), p_t, scores)
