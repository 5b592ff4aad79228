"""Automatic layout of a Bayesian network: layered top-down drawing computed from the arcs (no Qt).

A small Sugiyama-style pipeline: each node sits one layer below its deepest parent; barycentre sweeps
order the nodes in each layer to cut edge crossings; then every node is pulled towards the mean x of its
neighbours while keeping the order and a minimum gap, so children sit under their parents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

SWEEPS = 8  # ordering sweeps (down and up); crossings stop improving after a few on bnlearn networks
PULLS = 4  # coordinate refinement passes


def layers_of(nodes: Sequence[str], parents: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Layer of each node: 0 for roots, otherwise one below its deepest parent (cycles are broken)."""
    layer: dict[str, int] = {}
    visiting: set[str] = set()
    for start in nodes:
        if start in layer:
            continue
        stack = [(start, iter(parents.get(start, ())))]
        visiting.add(start)
        while stack:
            node, pending = stack[-1]
            advanced = False
            for parent in pending:
                if parent in layer or parent in visiting or (parent not in parents and parent not in nodes):
                    continue
                visiting.add(parent)
                stack.append((parent, iter(parents.get(parent, ()))))
                advanced = True
                break
            if advanced:
                continue
            stack.pop()
            visiting.discard(node)
            layer[node] = 1 + max((layer[p] for p in parents.get(node, ()) if p in layer), default=-1)
    return layer


def lower_roots(layer: dict[str, int], children: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Move each parentless node down to just above its highest child (roots otherwise all crowd row 0)."""
    out = dict(layer)
    for node, depth in layer.items():
        kids = [layer[c] for c in children.get(node, ()) if c in layer]
        if depth == 0 and kids:
            out[node] = max(0, min(kids) - 1)
    return out


def order_layers(layer: Mapping[str, int], parents: Mapping[str, Sequence[str]],
                 children: Mapping[str, Sequence[str]], sweeps: int = SWEEPS) -> list[list[str]]:
    """Nodes of each layer, ordered by repeated barycentre sweeps to reduce crossings."""
    depth = max(layer.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(depth)]
    for node in layer:  # the input order (usually the file's) is the starting order
        rows[layer[node]].append(node)
    position = {node: i for row in rows for i, node in enumerate(row)}
    best = [list(row) for row in rows]
    best_crossings = count_crossings(rows, parents, layer)
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, depth) if downward else range(depth - 2, -1, -1)
        for index in indices:
            neighbours = parents if downward else children
            rows[index] = _by_barycentre(rows[index], neighbours, position)
            for i, node in enumerate(rows[index]):
                position[node] = i
        crossings = count_crossings(rows, parents, layer)
        if crossings < best_crossings:
            best, best_crossings = [list(row) for row in rows], crossings
    return best


def _by_barycentre(row: list[str], neighbours: Mapping[str, Sequence[str]], position: Mapping[str, int]) -> list[str]:
    keyed = []
    for i, node in enumerate(row):
        linked = [position[n] for n in neighbours.get(node, ()) if n in position]
        keyed.append((sum(linked) / len(linked) if linked else float(i), i, node))
    keyed.sort()
    return [node for _, _, node in keyed]


def count_crossings(rows: Sequence[Sequence[str]], parents: Mapping[str, Sequence[str]],
                    layer: Mapping[str, int]) -> int:
    """Crossings between arcs joining adjacent layers (arcs spanning more layers are not counted)."""
    position = {node: i for row in rows for i, node in enumerate(row)}
    total = 0
    for index in range(1, len(rows)):
        arcs = sorted((position[p], position[c]) for c in rows[index] for p in parents.get(c, ())
                      if layer.get(p) == index - 1)
        for i, (top_a, bottom_a) in enumerate(arcs):
            for top_b, bottom_b in arcs[i + 1:]:
                if top_b > top_a and bottom_b < bottom_a:
                    total += 1
    return total


def layered_layout(nodes: Sequence[str], edges: Sequence[tuple[str, str]], *,
                   width: Callable[[str], float] | float = 180.0, height: Callable[[str], float] | float = 60.0,
                   gap_x: float = 24.0, gap_y: float = 56.0, cancelled: Callable[[], bool] | None = None,
                   ) -> dict[str, tuple[float, float]]:
    """Top-left corner of each node's box, layers top to bottom, parents above their children."""
    width_of = width if callable(width) else (lambda _n, w=float(width): w)
    height_of = height if callable(height) else (lambda _n, h=float(height): h)
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for parent, child in edges:
        if parent in parents and child in parents and parent != child:
            parents[child].append(parent)
            children[parent].append(child)
    layer = lower_roots(layers_of(nodes, parents), children)
    rows = order_layers(layer, parents, children)
    if cancelled is not None and cancelled():
        return {}
    centre: dict[str, float] = {}
    for row in rows:
        x = 0.0
        for node in row:
            centre[node] = x + width_of(node) / 2
            x += width_of(node) + gap_x
    for refinement in range(PULLS):
        downward = refinement % 2 == 0
        sequence = rows if downward else list(reversed(rows))
        for row in sequence:
            links = parents if downward else children
            wanted = []
            for node in row:
                linked = [centre[n] for n in links[node] if n in centre]
                wanted.append(sum(linked) / len(linked) if linked else centre[node])
            _place_row(row, wanted, centre, width_of, gap_x)
    left = min((centre[n] - width_of(n) / 2 for n in centre), default=0.0)
    positions: dict[str, tuple[float, float]] = {}
    y = 0.0
    for row in rows:
        for node in row:
            positions[node] = (centre[node] - width_of(node) / 2 - left, y)
        y += max((height_of(n) for n in row), default=0.0) + gap_y
    return positions


def _place_row(row: Sequence[str], wanted: Sequence[float], centre: dict[str, float],
               width_of: Callable[[str], float], gap: float) -> None:
    """Put each node as near its wanted x as the order and the gap allow (a left pass, a right pass, average)."""
    n = len(row)
    if not n:
        return
    half = [width_of(node) / 2 for node in row]
    left = list(wanted)
    for i in range(1, n):
        left[i] = max(left[i], left[i - 1] + half[i - 1] + half[i] + gap)
    right = list(wanted)
    for i in range(n - 2, -1, -1):
        right[i] = min(right[i], right[i + 1] - half[i + 1] - half[i] - gap)
    for i, node in enumerate(row):
        centre[node] = (left[i] + right[i]) / 2
    for i in range(1, n):  # averaging two valid placements keeps the gaps; this guards rounding
        centre[row[i]] = max(centre[row[i]], centre[row[i - 1]] + half[i - 1] + half[i] + gap)
