"""A network handed to pgmpy: the same variables, states and float64 CPTs as a DiscreteBayesianNetwork.

The bench and the exactness tests measure against pgmpy with it; pgmpy is imported only when it is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.bayes.model import BayesNet


def to_pgmpy(net: BayesNet) -> Any:
    """``net`` as a pgmpy DiscreteBayesianNetwork with state names, built from our float64 arrays."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork()
    model.add_nodes_from(net.variables)
    model.add_edges_from(net.edges())
    for v in range(net.size):
        parents = [net.variables[p] for p in net.parents[v]]
        # Our CPTs keep the child on the last axis; pgmpy wants it first, parents flattened after it.
        values = np.moveaxis(net.cpts[v], -1, 0).reshape(net.cards[v], -1)
        names = {net.variables[u]: list(net.states[u]) for u in (*net.parents[v], v)}
        model.add_cpds(TabularCPD(net.variables[v], net.cards[v], values, evidence=parents or None,
                                  evidence_card=[net.cards[p] for p in net.parents[v]] or None,
                                  state_names=names))
    return model
