"""Reader for XMLBIF 0.3 (Weka, JavaBayes, pgmpy, pyAgrum): ``<VARIABLE>`` and ``<DEFINITION>`` blocks.

A ``<TABLE>`` lists the child's distribution for each parent configuration in turn (``<GIVEN>`` order,
last parent fastest, child fastest), the same order as our CPT arrays.
"""

from __future__ import annotations

from engines.bayes.formats.builder import NetworkBuilder
from engines.bayes.formats.source import line_error
from engines.bayes.formats.xmltree import Node, parse_document, probabilities
from engines.bayes.model import BayesNet


def parse_xmlbif(data: bytes, source: str, normalize: bool = False) -> tuple[BayesNet, list[str]]:
    """Parse XMLBIF bytes into ``(BayesNet, warnings)``."""
    _root, network = parse_document(data, source, "BIF", "NETWORK")
    name_node = network.find("NAME")
    builder = NetworkBuilder(source, name_node.text if name_node is not None else "")
    for var in network.findall("VARIABLE"):
        name = _required(var, "NAME", source)
        states = [o.text for o in var.findall("OUTCOME")]
        if not states:
            raise line_error(source, var.line, f"variable {name!r} has no <OUTCOME> states")
        builder.add_variable(name, states, var.line)
    for definition in network.findall("DEFINITION"):
        child = _required(definition, "FOR", source)
        parents = [g.text for g in definition.findall("GIVEN")]
        table = definition.find("TABLE")
        if table is None:
            raise line_error(source, definition.line, f"the definition of {child!r} has no <TABLE>")
        builder.add_cpt(child, parents, probabilities(table, source, f"the table of {child!r}"), definition.line)
    return builder.build(normalize)


def _required(node: Node, tag: str, source: str) -> str:
    found = node.find(tag)
    if found is None or not found.text:
        raise line_error(source, node.line, f"<{node.tag}> needs a <{tag}>")
    return found.text

