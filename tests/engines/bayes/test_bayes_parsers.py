"""Readers for every format: good files agree with each other, malformed files fail with file + line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from bayes_helpers import network

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.read import read_network
from engines.bayes.model import BayesNet

DATA = Path(__file__).parent / "data"

SPRINKLER = {
    "Cloudy": np.array([0.5, 0.5]),
    "Sprinkler": np.array([[0.5, 0.5], [0.9, 0.1]]),
    "Rain": np.array([[0.8, 0.2], [0.2, 0.8]]),
    "WetGrass": np.array([[[1.0, 0.0], [0.1, 0.9]], [[0.1, 0.9], [0.01, 0.99]]]),
}

GOOD_BIF = """network tiny {
}
variable A {
  type discrete [ 2 ] { a0, a1 };
}
variable B {
  type discrete [ 3 ] { b0, b1, b2 };
}
variable C {
  type discrete [ 2 ] { c0, c1 };
  property "position = (1, 2)";
}
probability ( A ) {
  table 0.3, 0.7;
}
probability ( B | A ) {
  (a1) 0.1, 0.2, 0.7;
  (a0) 0.5, 0.25, 0.25;
}
probability ( C | A, B ) {
  default 0.5, 0.5;
  (a0, b0) 0.9, 0.1;
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def fails(tmp_path: Path, name: str, text: str, *fragments: str, line: int | None = None,
          kind: ErrorKind = ErrorKind.BAD_INPUT) -> str:
    """Parse ``text`` expecting an EngineError whose message holds the file, the line and ``fragments``."""
    with pytest.raises(EngineError) as caught:
        read_network(write(tmp_path, name, text))
    err = caught.value
    assert err.kind == kind, err.message
    assert name in err.message, err.message
    if line is not None:
        assert f"line {line}:" in err.message, err.message
    for fragment in fragments:
        assert fragment in err.message, err.message
    return err.message


def same_network(a: BayesNet, b: BayesNet) -> None:
    assert sorted(a.variables) == sorted(b.variables)
    for name in a.variables:
        va, vb = a.var(name), b.var(name)
        assert a.states[va] == b.states[vb]
        pa = [a.variables[p] for p in a.parents[va]]
        pb = [b.variables[p] for p in b.parents[vb]]
        assert sorted(pa) == sorted(pb)
        # bring b's CPT into a's parent order before comparing
        order = [pb.index(p) for p in pa] + [len(pb)]
        np.testing.assert_allclose(a.cpts[va], np.transpose(b.cpts[vb], order), rtol=0, atol=1e-15)


# --- good files ----------------------------------------------------------------------------------
def test_bif_rows_in_any_order_default_and_table(tmp_path: Path) -> None:
    net, warnings = read_network(write(tmp_path, "tiny.bif", GOOD_BIF))
    assert net.name == "tiny" and warnings == []
    assert net.variables == ["A", "B", "C"]
    np.testing.assert_array_equal(net.cpts[1], [[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])
    c = net.cpts[2]
    assert c.shape == (2, 3, 2)
    np.testing.assert_array_equal(c[0, 0], [0.9, 0.1])
    np.testing.assert_array_equal(c[1, 2], [0.5, 0.5])


def test_bif_table_with_parents_lists_the_child_slowest(tmp_path: Path) -> None:
    text = GOOD_BIF.replace("(a1) 0.1, 0.2, 0.7;\n  (a0) 0.5, 0.25, 0.25;", "table 0.5, 0.1, 0.25, 0.2, 0.25, 0.7;")
    net, _ = read_network(write(tmp_path, "table.bif", text))
    np.testing.assert_array_equal(net.cpts[1], [[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])


def test_bif_comments_and_gzip(tmp_path: Path) -> None:
    text = "// a comment\n/* block\n comment */\n" + GOOD_BIF.replace("table 0.3, 0.7;", "table 0.3, 0.7; // end")
    path = tmp_path / "commented.bif.gz"
    path.write_bytes(gzip.compress(text.encode()))
    net, _ = read_network(path)
    np.testing.assert_array_equal(net.cpts[0], [0.3, 0.7])


def test_state_names_with_slashes_parse(tmp_path: Path) -> None:
    net = network("child")  # pyAgrum cannot read this file (state 'Asy/Patch')
    assert "Asy/Patch" in net.states[net.var("LungParench")] or any("Asy/Patch" in s for s in net.states)


def test_pgmpy_written_xmlbif_xdsl_and_hugin_match_the_bif() -> None:
    asia = network("asia")
    for name in ("asia_pgmpy.xml", "asia_pgmpy.xdsl", "asia_pgmpy.net"):
        other, warnings = read_network(DATA / name)
        assert warnings == []
        same_network(asia, other)


@pytest.mark.parametrize("name", ["sprinkler.uai", "sprinkler.net"])
def test_hand_written_uai_and_hugin(name: str) -> None:
    net, _ = read_network(DATA / name)
    uai_names = {"X0": "Cloudy", "X1": "Sprinkler", "X2": "Rain", "X3": "WetGrass"}
    for v, var in enumerate(net.variables):
        expected = SPRINKLER[uai_names.get(var, var)]
        np.testing.assert_array_equal(net.cpts[v], expected)
    if name.endswith(".uai"):
        assert net.states[0] == ["0", "1"]


def test_xdsl_deterministic_node(tmp_path: Path) -> None:
    text = """<?xml version="1.0"?>
<smile version="1.0" id="det">
 <nodes>
  <cpt id="A"><state id="x"/><state id="y"/><probabilities>0.25 0.75</probabilities></cpt>
  <deterministic id="B"><state id="p"/><state id="q"/><parents>A</parents>
    <resultingstates>q p</resultingstates></deterministic>
 </nodes>
</smile>"""
    net, _ = read_network(write(tmp_path, "det.xdsl", text))
    np.testing.assert_array_equal(net.cpts[1], [[0.0, 1.0], [1.0, 0.0]])


def test_format_sniffed_from_content_when_the_suffix_is_unknown(tmp_path: Path) -> None:
    net, _ = read_network(write(tmp_path, "mystery.txt", GOOD_BIF))
    assert net.size == 3
    fails(tmp_path, "mystery.dat", "hello world", "cannot tell the format", kind=ErrorKind.UNSUPPORTED)


# --- CPT sums ------------------------------------------------------------------------------------
def test_cpt_not_summing_to_one_is_an_error_unless_normalised(tmp_path: Path) -> None:
    text = GOOD_BIF.replace("table 0.3, 0.7;", "table 0.3, 0.6;")
    fails(tmp_path, "sum.bif", text, "sums to 0.9", "normalize", line=13)
    net, warnings = read_network(tmp_path / "sum.bif", normalize=True)
    np.testing.assert_allclose(net.cpts[0], [1 / 3, 2 / 3])
    assert any("normalised" in w for w in warnings)


def test_rounding_in_a_file_is_reported_not_changed() -> None:
    path = Path(__file__).parents[3] / "resources" / "networks" / "alarm.bif.gz"
    net, warnings = read_network(path)
    assert any("HREKG" in w and "kept as written" in w for w in warnings)
    rows = net.cpts[net.var("HREKG")].reshape(-1, 3).sum(axis=1)
    assert np.abs(rows - 1).max() > 1e-9  # untouched


# --- malformed BIF -------------------------------------------------------------------------------
def test_bif_truncated(tmp_path: Path) -> None:
    fails(tmp_path, "cut.bif", GOOD_BIF[: GOOD_BIF.index("(a0) 0.5")], "never closes", "file ended")


def test_bif_truncated_inside_a_variable(tmp_path: Path) -> None:
    fails(tmp_path, "cut2.bif", GOOD_BIF[: GOOD_BIF.index("b2 };") + 2], "expected")


def test_bif_wrong_state_count(tmp_path: Path) -> None:
    fails(tmp_path, "states.bif", GOOD_BIF.replace("[ 3 ]", "[ 4 ]"), "declares 4 states but lists 3", line=7)


def test_bif_row_with_wrong_value_count(tmp_path: Path) -> None:
    fails(tmp_path, "row.bif", GOOD_BIF.replace("(a1) 0.1, 0.2, 0.7;", "(a1) 0.3, 0.7;"),
          "2 values, expected 3", line=17)


def test_bif_unknown_parent(tmp_path: Path) -> None:
    fails(tmp_path, "parent.bif", GOOD_BIF.replace("probability ( B | A )", "probability ( B | Z )"),
          "unknown parent 'Z'", line=16)


def test_bif_unknown_parent_state(tmp_path: Path) -> None:
    fails(tmp_path, "pstate.bif", GOOD_BIF.replace("(a1) 0.1", "(a9) 0.1"), "no state 'a9'", line=17)


def test_bif_duplicate_node(tmp_path: Path) -> None:
    text = GOOD_BIF.replace("variable C {", "variable A {\n  type discrete [ 2 ] { a0, a1 };\n}\nvariable C {")
    fails(tmp_path, "dup.bif", text, "duplicate node 'A'", "first declared on line 3", line=9)


def test_bif_cycle(tmp_path: Path) -> None:
    text = GOOD_BIF.replace("probability ( A ) {\n  table 0.3, 0.7;",
                            "probability ( A | C ) {\n  table 0.3, 0.7, 0.3, 0.7;")
    fails(tmp_path, "cycle.bif", text, "cycle", "A -> ")


def test_bif_negative_probability(tmp_path: Path) -> None:
    fails(tmp_path, "neg.bif", GOOD_BIF.replace("(a1) 0.1, 0.2, 0.7;", "(a1) -0.1, 0.4, 0.7;"),
          "negative probability", "A=a1", line=16)


def test_bif_not_a_number(tmp_path: Path) -> None:
    fails(tmp_path, "nan.bif", GOOD_BIF.replace("table 0.3, 0.7;", "table 0.3, seven;"), "'seven'", line=14)


def test_bif_missing_row_and_missing_table(tmp_path: Path) -> None:
    fails(tmp_path, "row2.bif", GOOD_BIF.replace("  (a0) 0.5, 0.25, 0.25;\n", ""), "no values for the parent "
          "configuration (a0)")
    text = GOOD_BIF[: GOOD_BIF.index("probability ( C")]
    fails(tmp_path, "notable.bif", text, "no probability table", "'C'", line=9)


def test_bif_garbage_between_blocks(tmp_path: Path) -> None:
    fails(tmp_path, "junk.bif", GOOD_BIF.replace("variable B {", "varable B {"), "expected 'network', "
          "'variable' or 'probability'", line=6)


# --- malformed XMLBIF / XDSL ---------------------------------------------------------------------
XMLBIF = (DATA / "asia_pgmpy.xml").read_text()


def test_xmlbif_truncated(tmp_path: Path) -> None:
    fails(tmp_path, "cut.xml", XMLBIF[: len(XMLBIF) // 2], "malformed XML")


def test_xmlbif_wrong_value_count(tmp_path: Path) -> None:
    text = XMLBIF.replace("<TABLE>0.01 0.99 </TABLE>", "<TABLE>0.01 0.99 0.5</TABLE>")
    assert text != XMLBIF
    fails(tmp_path, "count.xml", text, "3 values, expected 2")


def test_xmlbif_unknown_parent_duplicate_and_negative(tmp_path: Path) -> None:
    fails(tmp_path, "parent.xml", XMLBIF.replace("<GIVEN>asia</GIVEN>", "<GIVEN>nowhere</GIVEN>", 1),
          "unknown parent 'nowhere'")
    first = XMLBIF.index("<VARIABLE")
    block = XMLBIF[first: XMLBIF.index("</VARIABLE>") + len("</VARIABLE>")]
    fails(tmp_path, "dup.xml", XMLBIF.replace(block, block + "\n" + block, 1), "duplicate node")
    fails(tmp_path, "neg.xml", XMLBIF.replace("<TABLE>0.01 0.99 </TABLE>", "<TABLE>-0.01 1.01 </TABLE>"),
          "negative probability")


XDSL = (DATA / "asia_pgmpy.xdsl").read_text()


def test_xdsl_malformed(tmp_path: Path) -> None:
    fails(tmp_path, "cut.xdsl", XDSL[:300], "malformed XML")
    fails(tmp_path, "parent.xdsl", XDSL.replace("<parents>asia</parents>", "<parents>ghost</parents>"),
          "unknown parent 'ghost'")
    fails(tmp_path, "count.xdsl", XDSL.replace("<state id=\"no\"/>\n            <probabilities>0.0100000000000000",
                                               "<state id=\"no\"/>\n            <state id=\"maybe\"/>\n"
                                               "            <probabilities>0.0100000000000000"),
          "2 values, expected 3")
    start = XDSL.index('<cpt id="asia">')
    end = XDSL.index("</cpt>", start)
    text = XDSL[:start] + '<noisymax id="asia">' + XDSL[start + 15:end] + "</noisymax>" + XDSL[end + 6:]
    fails(tmp_path, "nmax.xdsl", text, "noisymax", kind=ErrorKind.UNSUPPORTED)


def test_xdsl_cycle(tmp_path: Path) -> None:
    text = XDSL.replace('<cpt id="asia">\n            <state id="yes"/>\n            <state id="no"/>\n'
                        '            <probabilities>0.0100000000000000 0.9900000000000000</probabilities>',
                        '<cpt id="asia">\n            <state id="yes"/>\n            <state id="no"/>\n'
                        '            <parents>tub</parents>\n'
                        '            <probabilities>0.01 0.99 0.01 0.99</probabilities>')
    assert text != XDSL
    fails(tmp_path, "cycle.xdsl", text, "cycle")


# --- malformed Hugin NET and UAI -----------------------------------------------------------------
NET = (DATA / "sprinkler.net").read_text()
UAI = (DATA / "sprinkler.uai").read_text()


def test_hugin_malformed(tmp_path: Path) -> None:
    fails(tmp_path, "cut.net", NET[: NET.index("(0.01 0.99)))")], "the file ended")
    fails(tmp_path, "parent.net", NET.replace("(Rain | Cloudy)", "(Rain | Cloud)"), "unknown parent 'Cloud'",
          line=30)
    fails(tmp_path, "count.net", NET.replace("data = (0.5 0.5);", "data = (0.5 0.25 0.25);"),
          "3 values, expected 2", line=28)
    fails(tmp_path, "dup.net", NET.replace("node Rain", "node Sprinkler"), "duplicate node 'Sprinkler'", line=18)
    fails(tmp_path, "neg.net", NET.replace("((0.8 0.2) (0.2 0.8))", "((1.2 -0.2) (0.2 0.8))"),
          "negative probability", line=30)
    fails(tmp_path, "cycle.net", NET.replace("potential (Cloudy) { data = (0.5 0.5); }",
                                             "potential (Cloudy | Rain) { data = ((0.5 0.5) (0.5 0.5)); }"),
          "cycle")
    fails(tmp_path, "cont.net", NET.replace("node Rain", "continuous node Rain"), "continuous",
          kind=ErrorKind.UNSUPPORTED)


def test_uai_malformed(tmp_path: Path) -> None:
    fails(tmp_path, "cut.uai", UAI[: UAI.index("0.01 0.99")], "file ended")
    fails(tmp_path, "count.uai", UAI.replace("4\n 0.5 0.5\n 0.9 0.1", "3\n 0.5 0.5\n 0.9"),
          "declares 3 values", line=12)
    fails(tmp_path, "var.uai", UAI.replace("2 0 2", "2 0 7"), "names variable 7", line=7)
    fails(tmp_path, "neg.uai", UAI.replace("0.8 0.2", "1.8 -0.8"), "negative probability")
    fails(tmp_path, "dup.uai", UAI.replace("2 0 2", "2 0 1"), "second probability table for 'X1'")
    fails(tmp_path, "cycle.uai", UAI.replace("1 0\n", "2 3 0\n").replace("2\n 0.5 0.5\n", "4\n 0.5 0.5 0.5 0.5\n"),
          "cycle")
    fails(tmp_path, "mrf.uai", UAI.replace("BAYES", "MARKOV"), "MARKOV", kind=ErrorKind.UNSUPPORTED)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        read_network(tmp_path / "nothing.bif")
    assert caught.value.kind == ErrorKind.NOT_FOUND
