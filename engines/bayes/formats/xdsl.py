"""Reader for GeNIe/SMILE XDSL files: ``<cpt>`` and ``<deterministic>`` chance nodes.

``<probabilities>`` lists the child's distribution per parent configuration, ``<parents>`` order, last
parent fastest. Noisy-MAX, equation, decision and utility nodes are reported as unsupported.
"""

from __future__ import annotations

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.formats.builder import NetworkBuilder
from engines.bayes.formats.source import line_error
from engines.bayes.formats.xmltree import Node, parse_document, probabilities
from engines.bayes.model import BayesNet

_UNSUPPORTED = {"noisymax", "noisyadder", "equation", "decision", "utility", "mau", "demorgan", "tnode"}


def parse_xdsl(data: bytes, source: str, normalize: bool = False) -> tuple[BayesNet, list[str]]:
    """Parse XDSL bytes into ``(BayesNet, warnings)``."""
    root, nodes = parse_document(data, source, "smile", "nodes")
    builder = NetworkBuilder(source, root.attrs.get("id", ""))
    for node in nodes.children:
        kind = node.tag.lower()
        name = node.attrs.get("id", "")
        if kind in _UNSUPPORTED:
            raise EngineError(ErrorKind.UNSUPPORTED, f"{source}, line {node.line}: node {name!r} is a <{kind}> "
                              "node; only <cpt> and <deterministic> chance nodes are supported")
        if kind not in ("cpt", "deterministic"):
            raise line_error(source, node.line, f"expected <cpt> or <deterministic>, found <{node.tag}>")
        if not name:
            raise line_error(source, node.line, f"<{node.tag}> without an id attribute")
        states = [s.attrs.get("id", "") for s in node.findall("state")]
        if not states or not all(states):
            raise line_error(source, node.line, f"node {name!r}: expected <state id=...> elements")
        builder.add_variable(name, states, node.line)
        par = node.find("parents")
        parents = par.text.split() if par is not None else []
        if kind == "cpt":
            probs = node.find("probabilities")
            if probs is None:
                raise line_error(source, node.line, f"node {name!r} has no <probabilities>")
            values = probabilities(probs, source, f"node {name!r}: <probabilities>")
        else:
            values = _deterministic(node, name, states, source)
        builder.add_cpt(name, parents, values, node.line)
    return builder.build(normalize)


def _deterministic(node: Node, name: str, states: list[str], source: str) -> np.ndarray:
    result = node.find("resultingstates")
    if result is None:
        raise line_error(source, node.line, f"deterministic node {name!r} has no <resultingstates>")
    index = {s: i for i, s in enumerate(states)}
    picks = result.text.split()
    table = np.zeros((len(picks), len(states)))
    for row, state in enumerate(picks):
        if state not in index:
            raise line_error(source, result.line, f"node {name!r}: {state!r} is not one of its states")
        table[row, index[state]] = 1.0
    return table.reshape(-1)
