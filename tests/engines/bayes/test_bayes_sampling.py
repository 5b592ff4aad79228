"""Likelihood weighting and Gibbs sampling land within their reported error of the exact posteriors."""

from __future__ import annotations

import numpy as np
import pytest
from bayes_helpers import Ctx, network

from engines.base import EngineError, RunCancelled
from engines.bayes import sampling
from engines.bayes.backend import NumpyOps
from engines.bayes.evidence import parse_evidence
from engines.bayes.jtree import plan_tree
from engines.bayes.propagation import CompiledTree


def exact(name: str, evidence: dict[str, str]) -> dict[int, np.ndarray]:
    net = network(name)
    tree = CompiledTree(net, plan_tree(net), NumpyOps())
    cal = tree.calibrate(parse_evidence(net, evidence).likelihoods(net.cards))
    return {v: m[0] for v, m in cal.marginals.items()}


def z_scores(estimate: sampling.Estimate, reference: dict[int, np.ndarray], skip: set[int]) -> np.ndarray:
    scores = []
    for v, p in reference.items():
        if v in skip:
            continue
        se = estimate.stderr[v]
        assert np.all(se > 0)
        scores.extend((np.abs(estimate.marginals[v] - p) / se).tolist())
    return np.array(scores)


def test_likelihood_weighting_is_within_its_error() -> None:
    net = network("alarm")
    evidence = {"HRBP": "HIGH", "BP": "LOW", "SAO2": "LOW"}
    ev = parse_evidence(net, evidence)
    estimate = sampling.likelihood_weighting(net, ev, 40_000, seed=11)
    z = z_scores(estimate, exact("alarm", evidence), set(ev.hard))
    assert z.max() < 4.5 and np.mean(z) < 1.2, (z.max(), z.mean())
    assert 0 < estimate.effective_samples <= 40_000
    assert estimate.p_evidence is not None and 0 < estimate.p_evidence < 1 and estimate.warnings == []


def test_gibbs_is_within_its_error() -> None:
    net = network("sachs")  # no zero probabilities: the chains mix
    evidence = {"Akt": "HIGH"} if "HIGH" in net.states[net.var("Akt")] else {"Akt": net.states[net.var("Akt")][0]}
    ev = parse_evidence(net, evidence)
    estimate = sampling.gibbs(net, ev, 20_000, burn_in=100, chains=64, seed=5)
    z = z_scores(estimate, exact("sachs", evidence), set(ev.hard))
    assert z.max() < 4.5 and np.mean(z) < 1.5, (z.max(), z.mean())
    assert estimate.warnings == []


def test_unlikely_evidence_warns() -> None:
    net = network("alarm")
    kids = net.children()
    leaves = [v for v in range(net.size) if not kids[v]][:8]
    reference = exact("alarm", {})
    evidence = {net.variables[v]: net.states[v][int(np.argmin(reference[v]))] for v in leaves}
    estimate = sampling.likelihood_weighting(net, parse_evidence(net, evidence), 5_000, seed=1)
    assert any("very unlikely" in w for w in estimate.warnings)


def test_impossible_evidence_is_a_clear_error() -> None:
    net = network("asia")
    with pytest.raises(EngineError, match="none of the 2,000 weighted samples"):
        sampling.likelihood_weighting(net, parse_evidence(net, "either=no,tub=yes"), 2_000, seed=1)


def test_sampling_through_the_engine_reports_errors_and_honours_cancel(ctx: Ctx) -> None:
    from engines.bayes.engine import BayesEngine

    engine = BayesEngine()
    engine.load("asia", "cpu", {}, ctx)
    result = engine.run("query", {"method": "lw", "samples": 30_000, "seed": 2, "evidence": "xray=yes"}, ctx)
    reference = exact("asia", {"xray": "yes"})
    lung = network("asia").var("lung")
    assert abs(result["posteriors"]["lung"]["yes"] - reference[lung][0]) < 5 * result["max_stderr"]
    assert result["samples"] == 30_000 and result["stderr"]["lung"]["yes"] > 0
    assert any(event[2] == "sampling" for event in ctx.progress_events)
    ctx.cancel.set()
    with pytest.raises(RunCancelled):
        engine.run("query", {"method": "gibbs", "samples": 10**7}, ctx)
