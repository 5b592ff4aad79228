"""Approximate inference: likelihood weighting and Gibbs sampling, vectorised over samples and chains.

Both report a standard error per posterior entry, so a user can see how far the answer may be from the
exact one: likelihood weighting from the effective sample size of its weights, Gibbs from the spread
between independent chains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.evidence import Evidence
from engines.bayes.model import BayesNet

# Below these, a warning says the evidence makes the estimate poor.
MIN_ESS_FRACTION = 0.01
MIN_P_EVIDENCE = 1e-4
CHUNK = 20_000  # samples drawn per vectorised pass (bounds memory, lets a cancel through)
DEFAULT_CHAINS = 64  # Gibbs chains run side by side; their spread gives the standard error
DEFAULT_BURN_IN = 200  # sweeps per chain discarded before counting


@dataclass
class Estimate:
    """Sampled posteriors with their standard errors."""

    marginals: dict[int, np.ndarray]
    stderr: dict[int, np.ndarray]
    samples: int
    effective_samples: float
    p_evidence: float | None = None  # likelihood weighting only
    warnings: list[str] = field(default_factory=list)


class _Tables:
    """Per-variable flat CPTs, cumulative rows and parent strides, for indexing by sampled states."""

    def __init__(self, net: BayesNet) -> None:
        self.flat = [c.reshape(-1, c.shape[-1]) for c in net.cpts]
        self.cum = [np.cumsum(f, axis=1) for f in self.flat]
        self.strides = []
        for v in range(net.size):
            cards = [net.cards[p] for p in net.parents[v]]
            self.strides.append([int(np.prod(cards[k + 1:])) for k in range(len(cards))])

    def rows(self, net: BayesNet, v: int, states: np.ndarray) -> np.ndarray:
        """Parent-configuration row of ``v`` for every sample (``states`` is (vars, n))."""
        idx = np.zeros(states.shape[1], dtype=np.int64)
        for p, stride in zip(net.parents[v], self.strides[v], strict=True):
            idx += states[p] * stride
        return idx


def likelihood_weighting(net: BayesNet, evidence: Evidence, samples: int, seed: int | None = None,
                         check: Callable[[], None] | None = None,
                         progress: Callable[[int, int], None] | None = None) -> Estimate:
    """Forward-sample unobserved nodes, weight by the likelihood of the evidence."""
    if samples < 1:
        raise EngineError(ErrorKind.BAD_INPUT, "samples must be at least 1")
    rng = np.random.default_rng(seed)
    tables = _Tables(net)
    order = net.topological_order()
    lik = evidence.likelihoods(net.cards)
    counts = [np.zeros(c) for c in net.cards]
    squares = [np.zeros(c) for c in net.cards]
    total_w = 0.0
    total_w2 = 0.0
    done = 0
    while done < samples:
        n = min(CHUNK, samples - done)
        states = np.zeros((net.size, n), dtype=np.int64)
        weights = np.ones(n)
        for v in order:
            rows = tables.rows(net, v, states)
            if v in evidence.hard:
                states[v] = evidence.hard[v]
                weights *= tables.flat[v][rows, evidence.hard[v]]
            else:
                u = rng.random(n)
                cum = tables.cum[v][rows]
                states[v] = np.minimum((u[:, None] * cum[:, -1:] > cum).sum(axis=1), net.cards[v] - 1)
            if v in evidence.soft:
                weights *= lik[v][0, states[v]]
        for v in range(net.size):
            w_by_state = np.bincount(states[v], weights=weights, minlength=net.cards[v])
            counts[v] += w_by_state
            squares[v] += np.bincount(states[v], weights=weights * weights, minlength=net.cards[v])
        total_w += float(weights.sum())
        total_w2 += float((weights * weights).sum())
        done += n
        if check is not None:
            check()
        if progress is not None:
            progress(done, samples)
    if total_w <= 0:
        raise EngineError(ErrorKind.BAD_INPUT, f"none of the {samples:,} weighted samples is consistent with "
                          "the evidence (its probability is zero or too small to sample); try exact inference")
    ess = total_w * total_w / total_w2
    marginals, stderr = {}, {}
    for v in range(net.size):
        p = counts[v] / total_w
        # delta-method variance of a ratio estimator: sum w^2 (1[x]-p)^2 / (sum w)^2
        var = (squares[v] - 2 * p * squares[v] + p * p * total_w2) / (total_w * total_w)
        marginals[v] = p
        stderr[v] = np.maximum(np.sqrt(np.maximum(var, 0.0)), _floor(p, ess))
    p_e = total_w / samples
    warnings = _lw_warnings(ess, samples, p_e, bool(evidence.variables))
    return Estimate(marginals, stderr, samples, ess, p_e, warnings)


def _floor(p: np.ndarray, n: float) -> np.ndarray:
    # A state seen in no sample (or in every one) still has an error: use add-one smoothing so the
    # reported error never claims more certainty than n draws can give.
    smoothed = (p * n + 1.0) / (n + p.size)
    return np.sqrt(smoothed * (1.0 - smoothed) / max(n, 1.0))


def _lw_warnings(ess: float, samples: int, p_e: float, has_evidence: bool) -> list[str]:
    out = []
    if has_evidence and p_e < MIN_P_EVIDENCE:
        out.append(f"the evidence is very unlikely (P(e) ~ {p_e:.2g}): likelihood weighting will be poor; "
                   "prefer exact inference")
    if ess < MIN_ESS_FRACTION * samples:
        out.append(f"only {ess:,.0f} effective samples of {samples:,}: the evidence makes most weights "
                   "tiny; increase samples or use exact inference")
    return out


def gibbs(net: BayesNet, evidence: Evidence, samples: int, burn_in: int = DEFAULT_BURN_IN,
          chains: int = DEFAULT_CHAINS, seed: int | None = None, check: Callable[[], None] | None = None,
          progress: Callable[[int, int], None] | None = None) -> Estimate:
    """Gibbs sampling over the unobserved nodes, ``chains`` chains in parallel; ``samples`` sweeps in all
    chains together are kept after ``burn_in`` sweeps per chain."""
    if samples < 1 or burn_in < 0 or chains < 2:
        raise EngineError(ErrorKind.BAD_INPUT, "Gibbs needs samples >= 1, burn_in >= 0 and chains >= 2")
    rng = np.random.default_rng(seed)
    tables = _Tables(net)
    kids = net.children()
    lik = evidence.likelihoods(net.cards)
    free = [v for v in net.topological_order() if v not in evidence.hard]
    states = _initial_state(net, evidence, tables, chains, rng)
    keep_sweeps = max(1, -(-samples // chains))
    counts = [np.zeros((chains, c)) for c in net.cards]
    total = burn_in + keep_sweeps
    for sweep in range(total):
        for v in free:
            logp = _blanket(net, v, states, tables, kids)
            if v in lik:
                with np.errstate(divide="ignore"):
                    logp = logp + np.log(lik[v][0])[None, :]
            top = logp.max(axis=1, keepdims=True)
            stuck = ~np.isfinite(top[:, 0])  # every state impossible given the rest: move uniformly
            top[stuck] = 0.0
            p = np.exp(logp - top)
            p[stuck] = 1.0
            cum = np.cumsum(p, axis=1)
            u = rng.random(chains)[:, None] * cum[:, -1:]
            states[v] = np.minimum((u > cum).sum(axis=1), net.cards[v] - 1)
        if sweep >= burn_in:
            for v in range(net.size):
                counts[v][np.arange(chains), states[v]] += 1
        if check is not None:
            check()
        if progress is not None:
            progress(sweep + 1, total)
    marginals, stderr = {}, {}
    for v in range(net.size):
        per_chain = counts[v] / keep_sweeps
        marginals[v] = per_chain.mean(axis=0)
        stderr[v] = per_chain.std(axis=0, ddof=1) / np.sqrt(chains)
    ess = min(_gibbs_ess(marginals, stderr), float(keep_sweeps * chains))
    for v in range(net.size):
        stderr[v] = np.maximum(stderr[v], _floor(marginals[v], ess))
    warnings = []
    if any(np.any(c.reshape(-1, c.shape[-1]) == 0) for c in net.cpts):
        warnings.append("the network has zero probabilities: Gibbs chains may not mix; compare with "
                        "likelihood weighting or exact inference")
    return Estimate(marginals, stderr, keep_sweeps * chains, ess, None, warnings)


def _gibbs_ess(marginals: dict[int, np.ndarray], stderr: dict[int, np.ndarray]) -> float:
    # The number of independent draws that would give the observed between-chain error (median entry).
    ratios = []
    for v, p in marginals.items():
        se = stderr[v]
        ok = (se > 0) & (p > 0) & (p < 1)
        ratios.extend((p[ok] * (1 - p[ok]) / se[ok] ** 2).tolist())
    return float(np.median(ratios)) if ratios else 0.0


def _initial_state(net: BayesNet, evidence: Evidence, tables: _Tables, chains: int,
                   rng: np.random.Generator) -> np.ndarray:
    # Start from forward samples with evidence clamped: a consistent point whenever one is easy to reach.
    states = np.zeros((net.size, chains), dtype=np.int64)
    for v in net.topological_order():
        if v in evidence.hard:
            states[v] = evidence.hard[v]
            continue
        cum = tables.cum[v][tables.rows(net, v, states)]
        u = rng.random(chains)[:, None] * cum[:, -1:]
        states[v] = np.minimum((u > cum).sum(axis=1), net.cards[v] - 1)
    return states


def _blanket(net: BayesNet, v: int, states: np.ndarray, tables: _Tables, kids: list[list[int]]) -> np.ndarray:
    # log P(v = x | Markov blanket) up to a constant, for every chain and every state x: (chains, card)
    with np.errstate(divide="ignore"):
        logp = np.log(tables.flat[v][tables.rows(net, v, states)])
        card = net.cards[v]
        for c in kids[v]:
            pos = net.parents[c].index(v)
            stride = tables.strides[c][pos]
            base = tables.rows(net, c, states) - states[v] * stride
            rows = base[:, None] + np.arange(card)[None, :] * stride
            logp = logp + np.log(tables.flat[c][rows, states[c][:, None]])
    return logp
