"""The junction tree: cliques from a triangulation, joined into a tree, rooted and laid out for fast
message passing.

Layout decisions made once here so no query pays for them: each clique's axes start with the variables
it shares with its parent (in the parent's axis order), so the message to the parent is a sum over the
trailing axes and the message from the parent broadcasts over them; every CPT is assigned to the
smallest clique holding its family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engines.bayes.model import BayesNet
from engines.bayes.triangulation import Triangulation, best_triangulation, moral_graph

BYTES_PER_ENTRY = 8  # float64


@dataclass
class TreeLayout:
    """Cliques (as ordered variable tuples), their tree, and where every variable and CPT lives."""

    axes: list[tuple[int, ...]]  # variables of each clique in axis order
    shapes: list[tuple[int, ...]]
    parent: list[int]  # -1 for a root
    children: list[list[int]]
    preorder: list[int]  # parents before children
    sep_len: list[int]  # leading axes shared with the parent
    child_axes: list[tuple[int, ...]]  # for each clique, the positions of its separator in the parent
    cpt_home: list[int]  # clique holding each variable's CPT
    var_home: list[int]  # smallest clique holding each variable (marginals and evidence)
    triangulation: Triangulation

    @property
    def sizes(self) -> list[int]:
        """Entries in each clique table."""
        return [math.prod(s) for s in self.shapes]

    def separator_sizes(self) -> list[int]:
        """Entries in each clique's separator with its parent (roots: 1)."""
        return [math.prod(self.shapes[i][: self.sep_len[i]]) for i in range(len(self.axes))]

    def predicted_bytes(self, batch: int = 1) -> int:
        """Memory the compiled tree and one query hold: base, pre-collected and working tables."""
        return 3 * batch * sum(self.sizes) * BYTES_PER_ENTRY

    def predicted_flops(self) -> int:
        """Multiply-adds in one full calibration (each table is touched about once per neighbour, twice)."""
        return sum(size * (2 + 2 * len(kids)) for size, kids in zip(self.sizes, self.children, strict=True))


def plan_tree(net: BayesNet, heuristics: Sequence[str] | None = None) -> TreeLayout:
    """Triangulate ``net`` and lay out its junction tree (no tables are allocated here)."""
    cards = net.cards
    adj = moral_graph(net.parents)
    tri = best_triangulation(adj, cards, heuristics) if heuristics else best_triangulation(adj, cards)
    cliques = [set(c) for c in tri.cliques]
    sizes = tri.table_sizes
    edges = tri.tree_edges
    n = len(cliques)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    parent = [-1] * n
    preorder: list[int] = []
    seen = [False] * n
    for root in _roots(nbrs, sizes):
        seen[root] = True
        stack = [root]
        while stack:
            node = stack.pop()
            preorder.append(node)
            for other in nbrs[node]:
                if not seen[other]:
                    seen[other] = True
                    parent[other] = node
                    stack.append(other)
    children: list[list[int]] = [[] for _ in range(n)]
    for node in preorder:
        if parent[node] >= 0:
            children[parent[node]].append(node)
    axes: list[tuple[int, ...]] = [()] * n
    sep_len = [0] * n
    child_axes: list[tuple[int, ...]] = [()] * n
    for node in preorder:
        p = parent[node]
        if p < 0:
            axes[node] = tuple(sorted(cliques[node]))
            continue
        shared = [v for v in axes[p] if v in cliques[node]]
        axes[node] = tuple(shared) + tuple(sorted(cliques[node] - set(shared)))
        sep_len[node] = len(shared)
        child_axes[node] = tuple(axes[p].index(v) for v in shared)
    shapes = [tuple(cards[v] for v in ax) for ax in axes]
    holders: list[list[int]] = [[] for _ in net.variables]
    for i, ax in enumerate(axes):
        for v in ax:
            holders[v].append(i)
    table = [math.prod(s) for s in shapes]
    var_home = [min(holders[v], key=lambda i: (table[i], i)) for v in range(net.size)]
    cpt_home = []
    for v, pars in enumerate(net.parents):
        family = {v, *pars}
        cpt_home.append(min((i for i in holders[v] if family <= cliques[i]), key=lambda i: (table[i], i)))
    return TreeLayout(axes, shapes, parent, children, preorder, sep_len, child_axes, cpt_home, var_home, tri)


def _roots(nbrs: list[list[int]], sizes: list[int]) -> list[int]:
    # One root per connected component: its centre (fewest hops to the farthest clique), so evidence
    # paths to the root stay short.
    n = len(nbrs)
    component = [-1] * n
    roots = []
    for start in range(n):
        if component[start] >= 0:
            continue
        members = [start]
        component[start] = start
        for node in members:
            for other in nbrs[node]:
                if component[other] < 0:
                    component[other] = start
                    members.append(other)
        roots.append(_centre(members, nbrs, sizes))
    return roots


def _centre(members: list[int], nbrs: list[list[int]], sizes: list[int]) -> int:
    if len(members) <= 2:
        return max(members, key=lambda i: sizes[i])
    # Peel leaves layer by layer; what remains last is the centre.
    degree = {m: len(nbrs[m]) for m in members}
    layer = [m for m in members if degree[m] <= 1]
    left = len(members)
    while left > 2:
        left -= len(layer)
        nxt = []
        for leaf in layer:
            for other in nbrs[leaf]:
                degree[other] -= 1
                if degree[other] == 1:
                    nxt.append(other)
        layer = nxt
    return max(layer, key=lambda i: sizes[i])
