"""Inputs that used to pass silently (issue 17, item 8): empty network files and a node given twice as
evidence. Each is refused with a message that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from bayes_helpers import Ctx, network

from engines.base import EngineError, ErrorKind
from engines.bayes.engine import BayesEngine
from engines.bayes.evidence import parse_evidence
from engines.bayes.formats.read import read_network


@pytest.mark.parametrize(("name", "text", "words"), [
    ("empty.bif", "", "the file is empty"),
    ("blank.bif", "  \n\n  // nothing\n", "no nodes"),
    ("header-only.bif", 'network "nothing" {\n}\n', "declares no nodes"),
    ("empty.xml", '<?xml version="1.0"?>\n<BIF VERSION="0.3"><NETWORK><NAME>x</NAME></NETWORK></BIF>\n',
     "declares no nodes"),
    ("empty.net", "net\n{\n}\n", "declares no nodes"),
])
def test_a_network_without_nodes_is_refused(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(EngineError) as caught:
        read_network(path)
    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert words in caught.value.message and name in caught.value.message


def test_the_engine_refuses_to_load_an_empty_bif(tmp_path: Path) -> None:
    path = tmp_path / "empty.bif"
    path.write_bytes(b"")
    with pytest.raises(EngineError, match="empty"):
        BayesEngine().load(str(path), "cpu", {}, Ctx())


@pytest.mark.parametrize("evidence", [
    "asia=yes,asia=no",
    "asia=yes, asia=yes",
    {"asia": "yes", " asia": "no"},
    [("smoke", "yes"), ("smoke", "no")],
])
def test_hard_evidence_naming_a_node_twice_is_refused(evidence: object) -> None:
    net = network("asia")
    with pytest.raises(EngineError) as caught:
        parse_evidence(net, evidence)
    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert "twice" in caught.value.message


def test_soft_evidence_naming_a_node_twice_is_refused() -> None:
    with pytest.raises(EngineError, match=r"soft evidence names 'xray' twice"):
        parse_evidence(network("asia"), soft="xray=0.9:0.1,xray=0.2:0.8")


def test_one_hard_and_one_soft_finding_on_a_node_still_combine() -> None:
    net = network("asia")
    evidence = parse_evidence(net, "xray=yes", "xray=0.9:0.1,smoke=0.3:0.7")
    assert evidence.variables == {net.var("xray"), net.var("smoke")}
