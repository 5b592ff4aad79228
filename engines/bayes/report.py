"""Turning networks, trees and arrays into the plain dicts results carry."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engines.bayes.evidence import Evidence
from engines.bayes.jtree import TreeLayout
from engines.bayes.model import BayesNet
from engines.bayes.types import Posteriors


def posteriors_by_name(net: BayesNet, marginals: Mapping[int, np.ndarray]) -> Posteriors:
    """``{node: {state: p}}`` from variable-indexed arrays."""
    return {net.variables[v]: dict(zip(net.states[v], (float(x) for x in np.asarray(m).reshape(-1)), strict=True))
            for v, m in marginals.items()}


def network_info(net: BayesNet, layout: TreeLayout, summary: bool) -> dict[str, Any]:
    """Nodes, edges, CPT sizes, the junction tree and the predicted cost of exact inference."""
    tri = layout.triangulation
    sizes = layout.sizes
    largest = max(range(len(sizes)), key=lambda i: sizes[i]) if sizes else 0
    info: dict[str, Any] = {
        "network": net.name,
        "nodes": net.size,
        "edges": sum(len(p) for p in net.parents),
        "states": sum(net.cards),
        "cpt_entries": sum(int(c.size) for c in net.cpts),
        "junction_tree": {
            "cliques": len(layout.axes),
            "largest_clique_entries": tri.largest,
            "largest_clique": [net.variables[v] for v in layout.axes[largest]] if sizes else [],
            "treewidth": tri.treewidth,
            "total_entries": tri.total_size,
            "heuristic": tri.heuristic,
        },
        "predicted_cost": {
            "table_entries": tri.total_size,
            "bytes": layout.predicted_bytes(),
            "multiply_adds_per_query": layout.predicted_flops(),
            "log10_state_space": sum(math.log10(c) for c in net.cards),
        },
    }
    if summary:
        return info
    kids = net.children()
    info["node_list"] = [
        {"name": net.variables[v], "states": net.states[v], "parents": [net.variables[p] for p in net.parents[v]],
         "children": [net.variables[c] for c in kids[v]], "cpt_entries": int(net.cpts[v].size)}
        for v in range(net.size)
    ]
    info["edge_list"] = [list(e) for e in net.edges()]
    seps = layout.separator_sizes()
    info["junction_tree"]["clique_list"] = [
        {"id": i, "nodes": [net.variables[v] for v in layout.axes[i]], "entries": sizes[i],
         "parent": layout.parent[i],
         "separator": [net.variables[v] for v in layout.axes[i][: layout.sep_len[i]]] if layout.parent[i] >= 0 else [],
         "separator_entries": seps[i] if layout.parent[i] >= 0 else 0}
        for i in range(len(layout.axes))
    ]
    return info


def zero_evidence_message(net: BayesNet, evidence: Evidence, p_evidence: Callable[[Evidence], float]) -> str:
    """Explain impossible evidence: the first finding that, with those before it, has probability zero."""
    items: list[tuple[str, Evidence]] = []
    for v, s in evidence.hard.items():
        items.append((f"{net.variables[v]}={net.states[v][s]}", Evidence({v: s}, {})))
    for v, lik in evidence.soft.items():
        items.append((f"{net.variables[v]}~{':'.join(f'{x:g}' for x in lik)}", Evidence({}, {v: lik})))
    acc = Evidence()
    shown = []
    for label, single in items[:30]:
        acc = Evidence({**acc.hard, **single.hard}, {**acc.soft, **single.soft})
        shown.append(label)
        if p_evidence(acc) <= 0:
            if len(shown) == 1:
                return f"the evidence is impossible: {label} has probability 0 in {net.name}"
            return (f"the evidence is impossible (probability 0): {label} cannot happen together with "
                    f"{', '.join(shown[:-1])}")
    return f"the evidence {', '.join(label for label, _ in items)} has probability 0 in {net.name}"
