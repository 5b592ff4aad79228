"""Exact inference: the junction tree agrees with pgmpy's variable elimination (float64, 1e-9) and with our
own elimination; soft, batched and torch-backed evidence give the same numbers as their plain forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bayes_helpers import EXACT_NETWORKS, Ctx, leaf_evidence, network

from engines.bayes import ve
from engines.bayes.backend import NumpyOps, make_ops
from engines.bayes.engine import BayesEngine
from engines.bayes.evidence import batch_likelihoods, parse_evidence
from engines.bayes.formats.pgmpy_model import to_pgmpy
from engines.bayes.jtree import plan_tree
from engines.bayes.propagation import CompiledTree

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def pgmpy_inference() -> dict[str, Any]:
    """pgmpy VariableElimination on each network, built once (pgmpy is slow to import and to build)."""
    from pgmpy.inference import VariableElimination

    return {name: VariableElimination(to_pgmpy(network(name, normalize=True))) for name in EXACT_NETWORKS}


@pytest.fixture(scope="module")
def engines() -> dict[str, BayesEngine]:
    """Our engine with each network loaded (rows rescaled, as pgmpy's model holds the same arrays)."""
    from engines.bayes.catalogue import locate

    out = {}
    for name in EXACT_NETWORKS:
        engine = BayesEngine()
        engine.load(str(locate(name)), "cpu", {"normalize": True}, Ctx())
        out[name] = engine
    return out


def pgmpy_posteriors(inference: Any, evidence: dict[str, str], names: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name in names:
        if name in evidence:
            continue
        factor = inference.query([name], evidence=evidence or None, show_progress=False)
        states = factor.state_names[name]
        out[name] = {s: float(p) for s, p in zip(states, factor.values, strict=True)}
    return out


@pytest.mark.parametrize("name", EXACT_NETWORKS)
@pytest.mark.parametrize("with_evidence", [False, True], ids=["no-evidence", "5-leaves"])
def test_junction_tree_matches_pgmpy(name: str, with_evidence: bool, engines: dict[str, BayesEngine],
                                     pgmpy_inference: dict[str, Any]) -> None:
    engine = engines[name]
    net = network(name, normalize=True)
    evidence = leaf_evidence(net) if with_evidence else {}
    ours = engine.run("query", {"evidence": evidence}, Ctx())
    assert ours["method"] == "jt"
    reference = pgmpy_posteriors(pgmpy_inference[name], evidence, net.variables)
    worst = max(abs(ours["posteriors"][node][state] - p) for node, dist in reference.items()
                for state, p in dist.items())
    assert worst <= TOLERANCE, f"{name}: max difference {worst:.3g}"
    assert len(ours["posteriors"]) == net.size
    for node, state in evidence.items():
        assert ours["posteriors"][node][state] == pytest.approx(1.0)
    assert 0 < ours["p_evidence"] <= 1


@pytest.mark.parametrize("name", EXACT_NETWORKS)
def test_junction_tree_matches_our_elimination_with_soft_evidence(name: str, engines: dict[str, BayesEngine]) -> None:
    net = network(name, normalize=True)
    rng = np.random.default_rng(7)
    hard = leaf_evidence(net, 2)
    soft_nodes = [v for v in range(net.size) if net.variables[v] not in hard][:3]
    soft = {net.variables[v]: rng.uniform(0.1, 1.0, net.cards[v]).tolist() for v in soft_nodes}
    jt = engines[name].run("query", {"evidence": hard, "soft_evidence": soft}, Ctx())
    targets = list(range(0, net.size, max(1, net.size // 12)))
    marg, p_e = ve.marginals(net, targets, parse_evidence(net, hard, soft))
    for v in targets:
        got = np.array(list(jt["posteriors"][net.variables[v]].values()))
        np.testing.assert_allclose(got, marg[v], rtol=0, atol=1e-12)
    assert jt["p_evidence"] == pytest.approx(p_e, rel=1e-10)


def test_soft_evidence_matches_pgmpy_virtual_evidence(pgmpy_inference: dict[str, Any],
                                                      engines: dict[str, BayesEngine]) -> None:
    from pgmpy.factors.discrete import TabularCPD

    ours = engines["asia"].run("query", {"evidence": "xray=yes", "soft_evidence": "smoke=0.2:0.9,dysp=1:0.3"},
                               Ctx())
    names = {"smoke": ["yes", "no"], "dysp": ["yes", "no"]}
    virtual = [TabularCPD("smoke", 2, [[0.2], [0.9]], state_names={"smoke": names["smoke"]}),
               TabularCPD("dysp", 2, [[1.0], [0.3]], state_names={"dysp": names["dysp"]})]
    for node in ("lung", "bronc", "tub", "either"):
        ref = pgmpy_inference["asia"].query([node], evidence={"xray": "yes"}, virtual_evidence=virtual,
                                             show_progress=False)
        got = [ours["posteriors"][node][s] for s in ref.state_names[node]]
        np.testing.assert_allclose(got, ref.values, rtol=0, atol=TOLERANCE)


def test_batched_evidence_equals_one_query_at_a_time() -> None:
    net = network("alarm", normalize=True)
    tree = CompiledTree(net, plan_tree(net), NumpyOps())
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(16):
        chosen = rng.choice(net.size, size=4, replace=False)
        rows.append(parse_evidence(net, {net.variables[v]: net.states[v][rng.integers(net.cards[v])]
                                         for v in chosen}))
    batch = tree.calibrate(batch_likelihoods(net, rows))
    assert batch.marginals[0].shape[0] == len(rows)
    for b, row in enumerate(rows):
        single = tree.calibrate(row.likelihoods(net.cards))
        assert batch.log_evidence[b] == pytest.approx(single.log_evidence[0], rel=1e-12, abs=1e-300) or (
            np.isneginf(batch.log_evidence[b]) and np.isneginf(single.log_evidence[0]))
        if np.isfinite(single.log_evidence[0]):
            for v in range(net.size):
                np.testing.assert_allclose(batch.marginals[v][b], single.marginals[v][0], rtol=0, atol=1e-12)


def test_batch_query_op_flags_impossible_rows(ctx: Ctx) -> None:
    engine = BayesEngine()
    engine.load("asia", "cpu", {}, ctx)
    result = engine.run("batch_query", {"evidence_batch": ["xray=yes", "either=no,tub=yes", {"evidence": "dysp=no",
                                         "soft_evidence": "smoke=1:3"}], "targets": "lung,tub"}, ctx)
    assert result["rows"] == 3
    assert result["impossible_rows"] == [1]
    assert len(result["posteriors"]["lung"]) == 3
    assert sum(result["posteriors"]["lung"][0]) == pytest.approx(1.0)
    assert result["p_evidence"][1] == 0.0


def test_torch_backend_gives_the_numpy_numbers() -> None:
    net = network("insurance")
    layout = plan_tree(net)
    evidence = parse_evidence(net, leaf_evidence(net, 3), {net.variables[0]: [0.3] + [1.0] * (net.cards[0] - 1)})
    reference = CompiledTree(net, layout, NumpyOps()).calibrate(evidence.likelihoods(net.cards))
    ops = make_ops("cpu", backend="torch")
    torch_tree = CompiledTree(net, layout, ops)
    got = torch_tree.calibrate({v: ops.asarray(a) for v, a in evidence.likelihoods(net.cards).items()})
    for v in range(net.size):
        np.testing.assert_allclose(got.marginals[v], reference.marginals[v], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.log_evidence, reference.log_evidence, rtol=1e-12)


def test_raw_files_stay_within_their_rounding_of_pgmpy(pgmpy_inference: dict[str, Any]) -> None:
    """Without normalize the engine uses the file's numbers as written (rows off by up to 1e-7 in ALARM)."""
    engine = BayesEngine()
    engine.load("alarm", "cpu", {}, Ctx())
    evidence = leaf_evidence(network("alarm"))
    ours = engine.run("query", {"evidence": evidence}, Ctx())
    reference = pgmpy_posteriors(pgmpy_inference["alarm"], evidence, network("alarm").variables)
    worst = max(abs(ours["posteriors"][n][s] - p) for n, d in reference.items() for s, p in d.items())
    assert worst < 1e-6
