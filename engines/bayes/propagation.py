"""Hugin propagation on a compiled junction tree, for one evidence set or a batch of them.

Compile builds each clique's potential (the product of the CPTs assigned to it) and runs one collect pass
without evidence, keeping every clique's collected table and its message to the parent. A query then
recollects only the cliques on the paths from evidence to the root (correcting their stored tables for
the messages that changed) and distributes from the root: cliques with no evidence below them answer
from projections of their stored tables made at compile time, the others from their full belief. One
calibration yields all marginals.

Every array has a leading batch axis: ``B`` evidence sets are propagated together (``B = 1`` for one
query). Messages are normalised on the way up and the scale factors are summed in log space, so P(e)
does not underflow on large networks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.bayes.backend import Ops
from engines.bayes.jtree import TreeLayout
from engines.bayes.model import BayesNet


@dataclass
class Calibration:
    """Result of one propagation: a posterior per variable and log P(evidence), per batch row."""

    marginals: dict[int, np.ndarray]  # variable -> (B, card)
    log_evidence: np.ndarray  # (B,), -inf where the evidence is impossible


@dataclass(frozen=True)
class _Reduction:
    """One planned sum: from the belief (``source`` -1) or an earlier result, over ``axes``."""

    source: int
    axes: tuple[int, ...]


@dataclass
class _Projection:
    """A pre-collected clique table summed down to its parent separator plus some other axes."""

    table: Any  # (1, *separator, *other kept axes)
    ratio_shape: tuple[int, ...]  # how the incoming separator ratio broadcasts against it
    summed: tuple[int, ...]  # separator axes that are summed away afterwards
    matrix: Any = None  # (separator, kept) when every separator axis is summed: apply is a matmul
    out_shape: tuple[int, ...] = ()

    def apply(self, ops: Ops, ratio: Any) -> Any:
        """The projection of ``table * ratio`` onto the kept axes."""
        if self.matrix is not None:
            return (ratio.reshape(ratio.shape[0], -1) @ self.matrix).reshape(self.out_shape)
        return ops.sum(self.table * ratio.reshape(self.ratio_shape), self.summed)


class CompiledTree:
    """A network's junction tree with its tables on one backend; answers evidence queries."""

    def __init__(self, net: BayesNet, layout: TreeLayout, ops: Ops) -> None:
        self.net = net
        self.layout = layout
        self.ops = ops
        n = len(layout.axes)
        self._reduce_to_sep = [tuple(range(1 + layout.sep_len[i], 1 + len(layout.axes[i]))) for i in range(n)]
        self._sep_shape = [layout.shapes[i][: layout.sep_len[i]] for i in range(n)]
        # shape a message from the parent takes to broadcast over a clique's trailing axes
        self._down_shape = [(-1, *self._sep_shape[i], *([1] * (len(layout.axes[i]) - layout.sep_len[i])))
                            for i in range(n)]
        self._up_shape: list[tuple[int, ...]] = []  # shape a child's message takes inside its parent
        self._keep_in_parent: list[tuple[int, ...]] = []  # axes of the parent summed away for a child
        for i in range(n):
            p = layout.parent[i]
            if p < 0:
                self._up_shape.append(())
                self._keep_in_parent.append(())
                continue
            shape = [1] * len(layout.axes[p])
            for pos, v in zip(layout.child_axes[i], layout.axes[i], strict=False):
                shape[pos] = net.cards[v]
            self._up_shape.append((-1, *shape))
            self._keep_in_parent.append(tuple(1 + a for a in range(len(layout.axes[p]))
                                              if a not in layout.child_axes[i]))
        self._all_axes = [tuple(range(1, 1 + len(ax))) for ax in layout.axes]
        self._var_axis = [layout.axes[layout.var_home[v]].index(v) for v in range(net.size)]
        self._home_vars: list[list[int]] = [[] for _ in range(n)]
        for v, home in enumerate(layout.var_home):
            self._home_vars[home].append(v)
        self._postorder = list(reversed(layout.preorder))
        # children whose separators sit on the same axes of their parent get the same message
        self._child_groups: list[list[list[int]]] = []
        for i in range(n):
            by_axes: dict[tuple[int, ...], list[int]] = {}
            for c in layout.children[i]:
                by_axes.setdefault(self._keep_in_parent[c], []).append(c)
            self._child_groups.append(list(by_axes.values()))
        self._precollect([ops.asarray(t) for t in self._potentials()])
        # 1 / (a clean clique's separator sum), 0 where the sum is 0: Hugin's 0/0 = 0 as one multiply
        self._inverse_sum = [None if s is None else ops.ratio(ops.ones_like(s), s) for s in self.up_sum]
        self._prepare_projections()
        self._plan_reductions()

    # --- compile ---------------------------------------------------------------------------------
    def _potentials(self) -> list[np.ndarray]:
        net, layout = self.net, self.layout
        tables = [np.ones((1, *shape)) for shape in layout.shapes]
        for v, home in enumerate(layout.cpt_home):
            family = (*net.parents[v], v)
            axes = layout.axes[home]
            order = sorted(range(len(family)), key=lambda k: axes.index(family[k]))
            cpt = np.transpose(net.cpts[v], order)
            shape = [1] * len(axes)
            for k in order:
                shape[axes.index(family[k])] = net.cards[family[k]]
            tables[home] = tables[home] * cpt.reshape(1, *shape)
        return tables

    def _precollect(self, base: list[Any]) -> None:
        n = len(self.layout.axes)
        self.collected: list[Any] = [None] * n
        self.up_sum: list[Any] = [None] * n  # unnormalised sum of the collected table to the separator
        self.up_msg: list[Any] = [None] * n  # the same, normalised per batch row
        self.up_log: list[Any] = [None] * n  # log of all normalisers collected in the subtree
        for i in self._postorder:
            self._collect_one(i, base[i], self.up_msg, self.up_log, self.collected, self.up_sum)
            base[i] = None  # the collected table replaces it

    def _prepare_projections(self) -> None:
        # A clique without evidence below it keeps its pre-collected table, so its belief is that table
        # times a function of its parent separator alone. Everything a query reads from it (a child's
        # separator, a variable's marginal) is then a small contraction of the incoming ratio with a
        # projection of the pre-collected table, computed here once. Cliques whose projections would
        # not be much smaller than the clique itself are left to the full path.
        layout = self.layout
        n = len(layout.axes)
        self._root_total = [None if layout.parent[i] >= 0 else self.collected[i].reshape(1, -1).sum(1)
                            for i in range(n)]
        self._proj_child: list[_Projection | None] = [None] * n  # keyed by the child
        self._proj_var: dict[int, _Projection] = {}
        self._projected = [False] * n
        for i in range(n):
            size = math.prod(layout.shapes[i])
            sep = set(range(layout.sep_len[i]))
            outputs: list[tuple[str, int, tuple[int, ...]]] = [
                ("child", c, layout.child_axes[c]) for c in layout.children[i]]
            outputs += [("var", v, (self._var_axis[v],)) for v in self._home_vars[i]]
            kept_sizes = [math.prod(layout.shapes[i][a] for a in sorted(sep | set(keep))) for _, _, keep in outputs]
            if any(k * 4 > size for k in kept_sizes) and size > 4096:
                continue
            self._projected[i] = True
            for kind, key, keep in outputs:
                proj = self._projection(i, keep)
                if kind == "child":
                    self._proj_child[key] = proj
                else:
                    self._proj_var[key] = proj

    def _plan_reductions(self) -> None:
        # What a clique's belief is summed to (its children's separators, its variables' marginals), each
        # taken from the smallest earlier result that holds all its axes rather than from the full table.
        layout, cards = self.layout, self.net.cards
        n = len(layout.axes)
        self._reductions: list[list[_Reduction]] = [[] for _ in range(n)]
        self._group_output: list[list[int]] = [[] for _ in range(n)]
        self._var_output: dict[int, int] = {}
        for i in range(n):
            axes = layout.axes[i]
            wanted: list[tuple[tuple[int, ...], str, int]] = []
            for g, group in enumerate(self._child_groups[i]):
                wanted.append((tuple(sorted(layout.child_axes[group[0]])), "group", g))
            for v in self._home_vars[i]:
                wanted.append(((self._var_axis[v],), "var", v))
            order = sorted(range(len(wanted)), key=lambda k: -math.prod(cards[axes[a]] for a in wanted[k][0]))
            made: list[tuple[int, ...]] = []
            self._group_output[i] = [0] * len(self._child_groups[i])
            for k in order:
                keep, kind, key = wanted[k]
                sources = [j for j, held in enumerate(made) if set(keep) <= set(held)]
                if sources:
                    src = min(sources, key=lambda j: math.prod(cards[axes[a]] for a in made[j]))
                    held = made[src]
                    summed = tuple(1 + pos for pos, a in enumerate(held) if a not in keep)
                else:
                    src = -1
                    summed = tuple(1 + a for a in range(len(axes)) if a not in keep)
                self._reductions[i].append(_Reduction(src, summed))
                made.append(keep)
                if kind == "group":
                    self._group_output[i][key] = len(made) - 1
                else:
                    self._var_output[key] = len(made) - 1

    def _projection(self, i: int, keep: tuple[int, ...]) -> _Projection:
        layout = self.layout
        k = layout.sep_len[i]
        held = sorted(set(range(k)) | set(keep))
        table = self.ops.sum(self.collected[i], tuple(1 + a for a in range(len(layout.axes[i])) if a not in held))
        extra = len(held) - k
        ratio_shape = (-1, *self._sep_shape[i], *([1] * extra))
        summed = tuple(1 + a for a in range(k) if a not in keep)
        if len(summed) == k:  # no separator axis is kept: (B, S) @ (S, X)
            kept_shape = tuple(layout.shapes[i][a] for a in held[k:])
            matrix = table.reshape(math.prod(self._sep_shape[i]), math.prod(kept_shape))
            return _Projection(table, ratio_shape, summed, matrix, (-1, *kept_shape))
        return _Projection(table, ratio_shape, summed)

    def _collect_one(self, i: int, table: Any, msgs: list[Any], logs: list[Any], collected: list[Any],
                     sums: list[Any]) -> None:
        for group in self._child_groups[i]:
            # messages on the same separator axes multiply together while they are small
            product = msgs[group[0]]
            for c in group[1:]:
                product = product * msgs[c]
            table = table * product.reshape(self._up_shape[group[0]])
        self._finish_collect(i, table, msgs, logs, collected, sums)

    def _finish_collect(self, i: int, table: Any, msgs: list[Any], logs: list[Any], collected: list[Any],
                        sums: list[Any]) -> None:
        ops = self.ops
        log: Any = 0.0
        for c in self.layout.children[i]:
            log = log + logs[c]
        collected[i] = table
        if self.layout.parent[i] < 0:
            msgs[i] = None
            logs[i] = log
            return
        s = ops.sum(table, self._reduce_to_sep[i])
        z = s.reshape(s.shape[0], -1).sum(1)
        sums[i] = s
        zs = z.reshape((-1,) + (1,) * (s.ndim - 1))
        msgs[i] = ops.ratio(s, zs)
        logs[i] = log + ops.log(z)

    # --- query -----------------------------------------------------------------------------------
    def dirty_cliques(self, evidence_vars: Sequence[int]) -> set[int]:
        """Cliques whose collected table changes when these variables carry evidence."""
        return self._paths_to_root(evidence_vars)

    def _paths_to_root(self, variables: Iterable[int]) -> set[int]:
        """Every clique between the home cliques of ``variables`` and the root."""
        found: set[int] = set()
        parent = self.layout.parent
        for v in variables:
            i = self.layout.var_home[v]
            while i >= 0 and i not in found:
                found.add(i)
                i = parent[i]
        return found

    def calibrate(self, likelihoods: Mapping[int, Any], targets: Sequence[int] | None = None,
                  check: Any = None) -> Calibration:
        """Propagate evidence (variable -> (B, card) likelihood on this backend) and return marginals."""
        ops, layout = self.ops, self.layout
        n = len(layout.axes)
        dirty = self.dirty_cliques(list(likelihoods))
        msgs = list(self.up_msg)
        logs = list(self.up_log)
        collected = list(self.collected)
        sums = list(self.up_sum)
        by_home: dict[int, list[int]] = {}
        for v in likelihoods:
            by_home.setdefault(layout.var_home[v], []).append(v)
        for i in self._postorder:
            if i not in dirty:
                continue
            # Start from the table collected without evidence and correct it only for what changed:
            # the messages of children with evidence below them (new / old; where the old message is 0
            # the new one is 0 too, and so is the table) and this clique's own findings.
            table = self.collected[i]
            for group in self._child_groups[i]:
                factor = None
                for c in group:
                    if c in dirty:
                        change = ops.ratio(msgs[c], self.up_msg[c])
                        factor = change if factor is None else factor * change
                if factor is not None:
                    table = table * factor.reshape(self._up_shape[group[0]])
            for v in by_home.get(i, ()):
                shape = [1] * (1 + len(layout.axes[i]))
                shape[0] = -1
                shape[1 + self._var_axis[v]] = self.net.cards[v]
                table = table * likelihoods[v].reshape(shape)
            self._finish_collect(i, table, msgs, logs, collected, sums)
            if check is not None:
                check()
        wanted = set(range(self.net.size) if targets is None else targets)
        need = self._paths_to_root(wanted)
        down: list[Any] = [None] * n  # the separator belief each needed clique receives from its parent
        marginals: dict[int, np.ndarray] = {}
        log_evidence: Any = 0.0
        for i in layout.preorder:
            p = layout.parent[i]
            if p < 0:
                table = collected[i]
                total = table.reshape(table.shape[0], -1).sum(1) if i in dirty else self._root_total[i]
                log_evidence = log_evidence + logs[i] + ops.log(total)
                if i not in need:
                    continue
                ratio = ops.ratio(ops.ones_like(total), total)
            elif i in need:
                ratio = ops.ratio(down[i], sums[i]) if i in dirty else down[i] * self._inverse_sum[i]
                down[i] = None
            else:
                continue
            groups = [[c for c in group if c in need] for group in self._child_groups[i]]
            homes = [v for v in self._home_vars[i] if v in wanted]
            if self._projected[i] and i not in dirty:
                for group in groups:
                    if group:  # children sharing a separator share one message
                        message = self._proj_child[group[0]].apply(ops, ratio)  # type: ignore[union-attr]
                        for c in group:
                            down[c] = message
                for v in homes:
                    marginals[v] = ops.to_numpy(self._proj_var[v].apply(ops, ratio))
            else:
                # A belief table is dropped once its children and marginals are read, so a large batch
                # holds one clique's belief at a time.
                belief = collected[i] * ratio.reshape(self._down_shape[i])
                plan = self._reductions[i]
                done: dict[int, Any] = {}

                def reduced(k: int, plan: list[_Reduction] = plan, belief: Any = belief,
                            done: dict[int, Any] = done) -> Any:
                    # each output is summed from the smallest earlier output that still holds its axes
                    if k not in done:
                        step = plan[k]
                        source = belief if step.source < 0 else reduced(step.source)
                        done[k] = ops.sum(source, step.axes)
                    return done[k]

                for g, group in enumerate(groups):
                    if group:
                        message = reduced(self._group_output[i][g])
                        for c in group:
                            down[c] = message
                for v in homes:
                    marginals[v] = ops.to_numpy(reduced(self._var_output[v]))
                del belief, done
            if check is not None:
                check()
        log_e = np.broadcast_to(np.asarray(ops.to_numpy(log_evidence) if not isinstance(log_evidence, float)
                                           else log_evidence, dtype=np.float64), (self._batch(marginals),))
        return Calibration(marginals, np.array(log_e))

    @staticmethod
    def _batch(marginals: Mapping[int, np.ndarray]) -> int:
        return max((m.shape[0] for m in marginals.values()), default=1)

