"""MPE and MAP agree with pgmpy's map_query; value of information equals the mutual information computed
from pgmpy's joint posteriors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from bayes_helpers import Ctx, network

from engines.bayes.engine import BayesEngine
from engines.bayes.formats.pgmpy_model import to_pgmpy
from engines.bayes.mpe import joint_probability

SMALL = ("asia", "cancer", "earthquake", "survey", "sachs")


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    from pgmpy.inference import VariableElimination

    # normalised rows: pgmpy prunes barren nodes, which only agrees with one joint when rows sum to 1
    return {name: VariableElimination(to_pgmpy(network(name, normalize=True))) for name in (*SMALL, "alarm")}


def engine_for(name: str) -> BayesEngine:
    engine = BayesEngine()
    engine.load(name, "cpu", {"normalize": True}, Ctx())
    return engine


def evidence_for(name: str) -> dict[str, str]:
    net = network(name)
    kids = net.children()
    leaf = next(v for v in range(net.size) if not kids[v])
    return {net.variables[leaf]: net.states[net.var(net.variables[leaf])][0]}


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("with_evidence", [False, True], ids=["no-evidence", "evidence"])
def test_mpe_matches_pgmpy_map_query(name: str, with_evidence: bool, references: dict[str, Any]) -> None:
    net = network(name, normalize=True)
    evidence = evidence_for(name) if with_evidence else {}
    ours = engine_for(name).run("mpe", {"evidence": evidence}, Ctx())
    # pgmpy 1.1 ignores the evidence when `variables` is left out, so name them
    hidden = [v for v in net.variables if v not in evidence]
    theirs = references[name].map_query(variables=hidden, evidence=evidence or None, show_progress=False)
    full_ours = {**ours["assignment"], **evidence}
    full_theirs = {**theirs, **evidence}
    as_index = {net.var(k): net.states[net.var(k)].index(v) for k, v in full_ours.items()}
    ref_index = {net.var(k): net.states[net.var(k)].index(v) for k, v in full_theirs.items()}
    p_ours, p_theirs = joint_probability(net, as_index), joint_probability(net, ref_index)
    # equal assignments, or (on exact ties) equally probable ones
    assert ours["assignment"] == theirs or p_ours == pytest.approx(p_theirs, rel=1e-12)
    assert ours["p_joint"] == pytest.approx(p_ours, rel=1e-12)


def test_map_on_a_subset_matches_pgmpy(references: dict[str, Any]) -> None:
    evidence = {"HRBP": "HIGH", "BP": "LOW", "SAO2": "LOW"}
    subset = ["LVFAILURE", "HYPOVOLEMIA", "KINKEDTUBE", "INTUBATION"]
    ours = engine_for("alarm").run("map", {"evidence": evidence, "targets": ",".join(subset)}, Ctx())
    theirs = references["alarm"].map_query(variables=subset, evidence=evidence, show_progress=False)
    assert ours["assignment"] == theirs
    joint = references["alarm"].query(subset, evidence=evidence, show_progress=False)
    assert ours["p_posterior"] == pytest.approx(float(joint.values.max()), rel=1e-9)


def test_voi_is_the_mutual_information(references: dict[str, Any]) -> None:
    net = network("alarm", normalize=True)
    evidence = {"BP": "LOW"}
    result = engine_for("alarm").run("voi", {"target": "LVFAILURE", "evidence": evidence}, Ctx())
    ranking = {r["node"]: r["expected_entropy_reduction_bits"] for r in result["ranking"]}
    assert len(ranking) == net.size - 2
    scores = list(ranking.values())
    assert scores == sorted(scores, reverse=True)
    for node in ("HISTORY", "CVP", "HR", "MINVOLSET"):
        joint = references["alarm"].query(["LVFAILURE", node], evidence=evidence, show_progress=False)
        table = joint.values if joint.variables[0] == "LVFAILURE" else joint.values.T
        pt, px = table.sum(axis=1), table.sum(axis=0)
        mi = sum(table[i, j] * math.log2(table[i, j] / (pt[i] * px[j]))
                 for i in range(table.shape[0]) for j in range(table.shape[1]) if table[i, j] > 0)
        assert ranking[node] == pytest.approx(mi, abs=1e-9), node
    assert result["target_entropy_bits"] > ranking[result["ranking"][0]["node"]]


def test_voi_rejects_an_observed_target() -> None:
    from engines.base import EngineError

    with pytest.raises(EngineError, match="already observed"):
        engine_for("asia").run("voi", {"target": "xray", "evidence": "xray=yes"}, Ctx())
