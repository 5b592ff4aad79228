"""The engine's operations and its answers to bad requests: unknown nodes and states, impossible
evidence, networks too large to compile, the info report, and the in-process client."""

from __future__ import annotations

import pytest
from bayes_helpers import Ctx

from engines.base import EngineError, ErrorKind
from engines.bayes.catalogue import NETWORKS, locate
from engines.bayes.engine import BayesEngine
from engines.bayes.formats.read import read_network
from engines.bayes.jtree import plan_tree


@pytest.fixture(scope="module")
def asia() -> BayesEngine:
    engine = BayesEngine()
    engine.load("asia", "cpu", {}, Ctx())
    return engine


def error_of(engine: BayesEngine, op: str, params: dict[str, object]) -> EngineError:
    with pytest.raises(EngineError) as caught:
        engine.run(op, params, Ctx())
    return caught.value


def test_every_catalogue_network_ships() -> None:
    missing = [name for name in NETWORKS if locate(name) is None]
    assert missing == []


def test_load_reports_the_network_and_its_junction_tree(ctx: Ctx) -> None:
    engine = BayesEngine()
    info = engine.load("alarm", "cpu", {}, ctx)
    assert info["nodes"] == 37 and info["edges"] == 46 and info["compiled"] is True
    assert info["junction_tree"]["largest_clique_entries"] == 144  # pyAgrum's too
    assert info["junction_tree"]["treewidth"] == 4
    assert info["metrics"]["compile_s"] > 0 and info["backend"] == "numpy"
    assert [m for _, _, m in ctx.progress_events][-1] == "ready"
    full = engine.run("info", {}, ctx)
    assert len(full["node_list"]) == 37 and len(full["edge_list"]) == 46
    cliques = full["junction_tree"]["clique_list"]
    assert sum(c["entries"] for c in cliques) == full["predicted_cost"]["table_entries"]
    assert sum(1 for c in cliques if c["parent"] < 0) == 1
    assert all(set(c["separator"]) <= set(c["nodes"]) for c in cliques)


def test_munin_largest_clique_is_no_larger_than_pyagrums() -> None:
    net, _ = read_network(locate("munin"))  # type: ignore[arg-type]
    tri = plan_tree(net).triangulation
    assert tri.largest <= 2_744_000  # pyAgrum 3.3: 2.7M entries
    assert tri.total_size < 20_000_000  # pyAgrum: 29M


def test_unknown_node_and_state(asia: BayesEngine) -> None:
    err = error_of(asia, "query", {"evidence": "xrya=yes"})
    assert err.kind == ErrorKind.BAD_INPUT and "unknown node 'xrya'" in err.message and "xray" in err.message
    err = error_of(asia, "query", {"evidence": "xray=maybe"})
    assert "no state 'maybe'" in err.message and "yes, no" in err.message
    err = error_of(asia, "query", {"targets": "lung,nowhere"})
    assert "unknown node 'nowhere'" in err.message
    err = error_of(asia, "query", {"soft_evidence": "smoke=0.5"})
    assert "1 value(s)" in err.message and "2 states" in err.message
    err = error_of(asia, "query", {"evidence": "xray"})
    assert "NODE=VALUE" in err.message
    err = error_of(asia, "query", {"method": "magic"})
    assert "method must be one of" in err.message
    assert error_of(asia, "bogus", {}).kind == ErrorKind.UNSUPPORTED


@pytest.mark.parametrize("method", ["jt", "ve"])
def test_impossible_evidence_is_explained_not_nan(asia: BayesEngine, method: str) -> None:
    err = error_of(asia, "query", {"evidence": "either=no,tub=yes", "method": method})
    assert err.kind == ErrorKind.BAD_INPUT
    assert "impossible" in err.message and "tub=yes" in err.message and "either=no" in err.message
    err = error_of(asia, "mpe", {"evidence": "either=no,lung=yes"})
    assert "impossible" in err.message


def test_soft_evidence_of_zero_on_the_only_possible_state(asia: BayesEngine) -> None:
    err = error_of(asia, "query", {"evidence": "either=no", "soft_evidence": "tub=1:0,lung=1:0"})
    assert "impossible" in err.message


def test_hard_evidence_posteriors_and_p_evidence(asia: BayesEngine) -> None:
    result = asia.run("query", {"evidence": {"xray": "yes", "dysp": "yes"}, "targets": ["lung", "xray"]}, Ctx())
    assert list(result["posteriors"]) == ["lung", "xray"]
    assert result["posteriors"]["xray"] == {"yes": 1.0, "no": 0.0}
    assert 0 < result["p_evidence"] < 1
    assert result["metrics"]["query_s"] > 0 and result["evidence"]["hard"] == {"xray": "yes", "dysp": "yes"}


def test_a_junction_tree_that_does_not_fit_is_refused_with_its_size(ctx: Ctx) -> None:
    engine = BayesEngine()
    info = engine.load("munin1", "cpu", {"max_memory_bytes": 2**30}, ctx)
    assert info["compiled"] is False
    assert "entries" in info["refusal"] and "GiB" in info["refusal"] and "--method lw" in info["refusal"]
    err = error_of(engine, "query", {})
    assert err.kind == ErrorKind.OUT_OF_MEMORY and "largest clique" in err.message
    sampled = engine.run("query", {"method": "lw", "samples": 500, "seed": 1, "targets": "all"}, ctx)
    assert len(sampled["posteriors"]) == 186 and sampled["max_stderr"] > 0
    assert engine.run("info", {}, ctx)["predicted_cost"]["bytes"] > 2**30


def test_write_round_trips_through_the_engine(tmp_path, asia: BayesEngine) -> None:  # type: ignore[no-untyped-def]
    out = asia.run("write", {"path": str(tmp_path / "asia.xml")}, Ctx())
    assert out["format"] == "xmlbif"
    again = BayesEngine()
    again.load(out["path"], "cpu", {}, Ctx())
    a = asia.run("query", {"evidence": "xray=yes"}, Ctx())["posteriors"]
    b = again.run("query", {"evidence": "xray=yes"}, Ctx())["posteriors"]
    assert a == b


def test_missing_model_names_the_catalogue(ctx: Ctx) -> None:
    with pytest.raises(EngineError) as caught:
        BayesEngine().load("nosuchnet", "cpu", {}, ctx)
    assert caught.value.kind == ErrorKind.NOT_FOUND and "alarm" in caught.value.message


def test_unknown_device(ctx: Ctx) -> None:
    with pytest.raises(EngineError) as caught:
        BayesEngine().load("asia", "tpu:0", {}, ctx)
    assert caught.value.kind == ErrorKind.DEVICE


def test_through_the_in_process_client() -> None:
    from app.supervisor import InProcessClient

    with InProcessClient.for_engine("bayes") as client:
        info = client.load("asia", "cpu", {})
        assert info["nodes"] == 8
        result = client.call("query", {"evidence": "xray=yes", "targets": "lung"})
        assert result["posteriors"]["lung"]["yes"] == pytest.approx(0.4887, abs=1e-3)
        listing = client.call("networks", {})
        assert any(n["name"] == "munin" for n in listing["networks"])


@pytest.mark.parametrize("name", ["alarm", "andes", "pigs", "munin2"])
def test_junction_tree_has_the_running_intersection_property(name: str) -> None:
    net, _ = read_network(locate(name))  # type: ignore[arg-type]
    layout = plan_tree(net)
    n = len(layout.axes)
    assert sum(1 for p in layout.parent if p < 0) == (4 if name == "andes" else 1)  # andes has 4 components
    for v in range(net.size):
        holding = {i for i in range(n) if v in layout.axes[i]}
        # the cliques holding v must form a subtree: exactly one of them has its parent outside the set
        tops = [i for i in holding if layout.parent[i] not in holding]
        assert len(tops) == 1, (name, net.variables[v])
    for v, home in enumerate(layout.cpt_home):
        assert {v, *net.parents[v]} <= set(layout.axes[home])
