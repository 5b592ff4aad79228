"""The Pareto front of speed x quality: the configurations no other one beats on both at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One configuration on the chart: a label, its speed (x) and its quality figure (y)."""

    label: str
    x: float
    y: float


def pareto_front(points: Sequence[Point], *, higher_x: bool = True, higher_y: bool = True) -> list[bool]:
    """For each point, whether it is on the front (not dominated: nothing at least as good on both axes and
    strictly better on one). ``higher_*`` says which direction is better on each axis."""
    sx, sy = (1.0 if higher_x else -1.0), (1.0 if higher_y else -1.0)
    keys = [(sx * p.x, sy * p.y) for p in points]
    front = []
    for i, (x, y) in enumerate(keys):
        dominated = any(ox >= x and oy >= y and (ox > x or oy > y)
                        for j, (ox, oy) in enumerate(keys) if j != i)
        front.append(not dominated)
    return front
