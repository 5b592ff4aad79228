"""Collects what a reader found and turns it into a checked :class:`BayesNet`.

Every reader reports variables and CPTs here, with the line they came from, so the checks (duplicates,
unknown parents, table sizes, cycles, negative or non-normalised probabilities) and their messages are
the same for every format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engines.base import EngineError
from engines.bayes.formats.source import line_error
from engines.bayes.model import BayesNet, did_you_mean, topological_order

# A row off by more than this is an error (unless the user asks to normalise); closer than SUM_WARN
# it is silent rounding in the file, in between it is reported as a warning.
SUM_ERROR = 1e-3
SUM_WARN = 1e-9


@dataclass
class _Cpt:
    parents: list[str]
    values: np.ndarray
    at: int | None


class NetworkBuilder:
    """Accumulates variables and CPTs from one file, then checks and builds the network."""

    def __init__(self, source: str, name: str = "", locate: Callable[[int], int] | None = None) -> None:
        self.source = source
        self.name = name
        # Readers pass a location (a character offset or a line); it becomes a line only for a message.
        self._locate = locate or (lambda at: at)
        self._states: dict[str, list[str]] = {}
        self._at: dict[str, int | None] = {}
        self._cpts: dict[str, _Cpt] = {}

    def _error(self, at: int | None, message: str) -> EngineError:
        return line_error(self.source, None if at is None else self._locate(at), message)

    def has_variable(self, name: str) -> bool:
        """Whether ``name`` was declared."""
        return name in self._states

    def states_of(self, name: str) -> list[str]:
        """The declared states of ``name`` (KeyError when undeclared)."""
        return self._states[name]

    def suggest(self, name: str) -> str:
        """' (did you mean ...?)' for a misspelt node name, or ''."""
        return did_you_mean(name, list(self._states))

    def add_variable(self, name: str, states: Sequence[str], at: int | None) -> None:
        """Declare a variable; duplicates of names or of states are errors."""
        if name in self._states:
            first = self._at[name]
            where = f" (first declared on line {self._locate(first)})" if first is not None else ""
            raise self._error(at, f"duplicate node {name!r}{where}")
        if not name:
            raise self._error(at, "a node without a name")
        if len(states) < 1:
            raise self._error(at, f"node {name!r} has no states")
        seen: set[str] = set()
        for state in states:
            if state in seen:
                raise self._error(at, f"node {name!r} lists state {state!r} twice")
            seen.add(state)
        self._states[name] = list(states)
        self._at[name] = at

    def add_cpt(self, child: str, parents: Sequence[str], values: np.ndarray, at: int | None) -> None:
        """Record a CPT given flat in (parents..., child) C order; checked in :meth:`build`."""
        if child not in self._states:
            raise self._error(at, f"probability for unknown node {child!r}"
                             + did_you_mean(child, list(self._states)))
        if child in self._cpts:
            first = self._cpts[child].at
            where = f" (the first is on line {self._locate(first)})" if first is not None else ""
            raise self._error(at, f"a second probability table for {child!r}{where}")
        if len(set(parents)) != len(parents):
            raise self._error(at, f"node {child!r} lists a parent twice")
        if child in parents:
            raise self._error(at, f"node {child!r} is its own parent")
        self._cpts[child] = _Cpt(list(parents), values, at)

    def build(self, normalize: bool = False) -> tuple[BayesNet, list[str]]:
        """The checked network and the warnings (rows that needed rounding or normalising)."""
        names = list(self._states)
        if not names:
            # Every query on a network without nodes would "succeed" with nothing in it.
            raise self._error(None, "the file declares no nodes: an empty network cannot be loaded")
        index = {name: i for i, name in enumerate(names)}
        missing = [n for n in names if n not in self._cpts]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise self._error(self._at[missing[0]],
                             f"no probability table for {len(missing)} node(s): {shown}")
        parents: list[tuple[int, ...]] = []
        for name in names:
            cpt = self._cpts[name]
            for p in cpt.parents:
                if p not in index:
                    raise self._error(cpt.at, f"node {name!r} has an unknown parent {p!r}"
                                     + did_you_mean(p, names))
            parents.append(tuple(index[p] for p in cpt.parents))
        topological_order(names, parents, self.source)
        warnings: list[str] = []
        cpts = self._checked_tables(names, normalize, warnings)
        net = BayesNet(self.name or "network", names, [self._states[n] for n in names], parents, cpts,
                       source=self.source)
        return net, warnings

    def _checked_tables(self, names: list[str], normalize: bool, warnings: list[str]) -> list[np.ndarray]:
        # One vectorised pass over every table (finite, non-negative, rows summing to 1 within SUM_WARN);
        # only tables that fail it go through the per-table checks that word the problem or fix it.
        shapes = [(*(len(self._states[p]) for p in self._cpts[n].parents), len(self._states[n])) for n in names]
        values = [self._cpts[n].values for n in names]
        sizes = [math.prod(shape) for shape in shapes]
        if any(v.size != size for v, size in zip(values, sizes, strict=True)) or not values:
            return [self._checked_table(n, normalize, warnings) for n in names]
        flat = np.concatenate(values).astype(np.float64, copy=False)
        rows_per_table = [size // shape[-1] for size, shape in zip(sizes, shapes, strict=True)]
        row_cards = np.repeat([shape[-1] for shape in shapes], rows_per_table)
        starts = np.concatenate(([0], np.cumsum(row_cards)[:-1])).astype(np.intp)
        with np.errstate(invalid="ignore"):
            bad_row = ~(np.abs(np.add.reduceat(flat, starts) - 1.0) <= SUM_WARN)
            bad_value = ~(flat >= 0)  # NaN and negatives
        if bad_value.any():
            bad_row |= np.add.reduceat(bad_value.astype(np.intp), starts) > 0
        table_of_row = np.repeat(np.arange(len(names)), rows_per_table)
        flagged = set(np.unique(table_of_row[bad_row]).tolist())
        out = []
        offset = 0
        for k, (name, shape) in enumerate(zip(names, shapes, strict=True)):
            if k in flagged:
                out.append(self._checked_table(name, normalize, warnings))
            else:
                out.append(flat[offset:offset + sizes[k]].reshape(shape))
            offset += sizes[k]
        return out

    def _checked_table(self, name: str, normalize: bool, warnings: list[str]) -> np.ndarray:
        cpt = self._cpts[name]
        shape = (*(len(self._states[p]) for p in cpt.parents), len(self._states[name]))
        expected = math.prod(shape)
        values = np.asarray(cpt.values, dtype=np.float64)
        if values.size != expected:
            configs = expected // shape[-1]
            raise self._error(cpt.at,
                             f"the table of {name!r} has {values.size} values, expected {expected} "
                             f"({configs} parent configuration(s) x {shape[-1]} states)")
        table = values.reshape(shape)
        rows = table.reshape(-1, shape[-1])
        if not np.all(np.isfinite(rows)):
            raise self._error(cpt.at, f"the table of {name!r} holds a value that is not a number")
        if np.any(rows < 0):
            r = int(np.argwhere(rows < 0)[0][0])
            raise self._error(cpt.at, f"the table of {name!r} has a negative probability "
                             f"{rows[r].min():g} in {self._row_label(name, r)}")
        sums = rows.sum(axis=1)
        off = np.abs(sums - 1.0)
        worst = int(np.argmax(off))
        if off[worst] > SUM_ERROR and not normalize:
            raise self._error(cpt.at,
                             f"the row {self._row_label(name, worst)} of {name!r} sums to {sums[worst]:.6g}, "
                             "not 1 (load with normalize to rescale it)")
        if off[worst] > SUM_WARN:
            bad = int(np.count_nonzero(off > SUM_WARN))
            if normalize:
                zero = sums <= 0
                table = np.where(zero[:, None], 1.0 / shape[-1], rows / np.where(zero, 1.0, sums)[:, None])
                table = table.reshape(shape)
                warnings.append(f"{name}: normalised {bad} row(s) (worst sum {sums[worst]:.6g})")
            else:
                warnings.append(f"{name}: {bad} row(s) sum to 1 only within {off[worst]:.1e} (kept as written)")
        return np.ascontiguousarray(table)

    def _row_label(self, name: str, row: int) -> str:
        pars = self._cpts[name].parents
        if not pars:
            return "(no parents)"
        cards = [len(self._states[p]) for p in pars]
        idx = np.unravel_index(row, cards)
        return "(" + ", ".join(f"{p}={self._states[p][int(i)]}" for p, i in zip(pars, idx, strict=True)) + ")"

