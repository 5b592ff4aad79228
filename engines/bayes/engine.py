"""The Bayesian network engine: load a network, compile its junction tree once, answer queries.

Runs in a worker process (or in-process for tests). Every result is a plain JSON-able dict; posteriors
are ``{node: {state: p}}`` and ``result["metrics"]`` holds the timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind, RunContext
from engines.bayes import catalogue
from engines.bayes.backend import NumpyOps, Ops, choose_ops
from engines.bayes.evidence import Evidence, batch_likelihoods, parse_evidence
from engines.bayes.formats.read import read_network
from engines.bayes.jtree import TreeLayout, plan_tree
from engines.bayes.model import BayesNet
from engines.bayes.propagation import Calibration, CompiledTree
from engines.bayes.report import network_info, posteriors_by_name, zero_evidence_message

METHODS = ("auto", "jt", "ve", "lw", "gibbs")
MEMORY_SHARE = 0.5  # of the free memory a junction tree may take unless the user sets a limit


class BayesEngine:
    """Implements :class:`engines.base.Engine` for discrete Bayesian networks."""

    def __init__(self) -> None:
        self.net: BayesNet | None = None
        self.layout: TreeLayout | None = None
        self.tree: CompiledTree | None = None
        self.ops: Ops | None = None
        self.refusal = ""
        self.path: Path | None = None
        self.warnings: list[str] = []
        self.metrics: dict[str, float] = {}
        self.budget_bytes = 0
        self.backend_note = ""

    # --- protocol --------------------------------------------------------------------------------
    def load(self, model: str, device: str, options: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Parse ``model`` (a file or a catalogue name), plan its junction tree and compile it if it fits."""
        path = _resolve(model)
        ctx.progress(0, 3, "parsing")
        t0 = time.perf_counter()
        net, warnings = read_network(path, normalize=bool(options.get("normalize", False)))
        t1 = time.perf_counter()
        ctx.check_cancelled()
        ctx.progress(1, 3, "triangulating")
        layout = plan_tree(net)
        self.ops, self.backend_note = choose_ops(device, options, layout.triangulation.total_size)
        t2 = time.perf_counter()
        ctx.check_cancelled()
        self.net, self.layout, self.path, self.warnings = net, layout, path, warnings
        self.budget_bytes = _budget(options, "cpu" if isinstance(self.ops, NumpyOps) else device)
        need = layout.predicted_bytes()
        self.refusal = ""
        self.tree = None
        if need > self.budget_bytes:
            tri = layout.triangulation
            self.refusal = (f"exact inference on {net.name} needs junction-tree tables of {tri.total_size:,} "
                            f"entries ({need / 2**30:.1f} GiB with working copies; largest clique "
                            f"{tri.largest:,} entries), more than the {self.budget_bytes / 2**30:.1f} GiB it may "
                            "use here. Use sampling (--method lw or gibbs), or --method ve for one target.")
        else:
            ctx.progress(2, 3, "compiling the junction tree")
            self.tree = CompiledTree(net, layout, self.ops)
        t3 = time.perf_counter()
        ctx.progress(3, 3, "ready")
        self.metrics = {"parse_s": t1 - t0, "triangulate_s": t2 - t1, "compile_s": t3 - t1}
        info = network_info(net, layout, summary=True)
        info.update({
            "model_id": net.name, "name": net.name, "path": str(path), "device": device,
            "backend": self.ops.name, "backend_note": self.backend_note, "compiled": self.tree is not None,
            "refusal": self.refusal,
            "warnings": warnings, "metrics": dict(self.metrics),
        })
        return info

    def run(self, op: str, params: Mapping[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        """Dispatch one request."""
        handlers: dict[str, Callable[[Mapping[str, Any], RunContext], dict[str, Any]]] = {
            "info": self._info, "query": self._query, "batch_query": self._batch_query, "mpe": self._mpe,
            "map": self._map, "voi": self._voi, "write": self._write, "networks": self._networks,
        }
        if op not in handlers:
            raise EngineError(ErrorKind.UNSUPPORTED, f"unknown operation {op!r} (known: {', '.join(handlers)})")
        if op != "networks" and self.net is None:
            raise EngineError(ErrorKind.BAD_INPUT, "no network is loaded")
        return handlers[op](params, ctx)

    def unload(self) -> None:
        """Drop the network and its tables."""
        self.net = self.layout = self.tree = None

    # --- operations ------------------------------------------------------------------------------
    def _info(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        net, layout = self._loaded()
        info = network_info(net, layout, summary=False)
        info.update({"compiled": self.tree is not None, "refusal": self.refusal, "warnings": self.warnings,
                     "path": str(self.path), "budget_bytes": self.budget_bytes, "metrics": dict(self.metrics)})
        return info

    def _query(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        net, _ = self._loaded()
        evidence = parse_evidence(net, params.get("evidence"), params.get("soft_evidence"))
        targets = self._targets(params.get("targets"))
        method = str(params.get("method") or "auto")
        if method not in METHODS:
            raise EngineError(ErrorKind.BAD_INPUT, f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if method == "auto":
            method = "jt"
        t0 = time.perf_counter()
        p_e: float | None
        result: dict[str, Any] = {"network": net.name, "method": method, "evidence": evidence.describe(net)}
        if method == "jt":
            cal = self._calibrate(evidence, targets, ctx)
            result["posteriors"] = posteriors_by_name(net, {v: cal.marginals[v][0] for v in targets})
            log_e = min(0.0, float(cal.log_evidence[0]))  # rounding can push log 1 above 0
            p_e = float(np.exp(log_e))
            result["log_p_evidence"] = log_e
        elif method == "ve":
            from engines.bayes import ve

            marg, p_e = ve.marginals(net, targets, evidence, check=ctx.check_cancelled)
            if evidence.variables and p_e <= 0:
                raise EngineError(ErrorKind.BAD_INPUT, zero_evidence_message(net, evidence, self._p_evidence))
            result["posteriors"] = posteriors_by_name(net, {v: marg[v] for v in targets})
        else:
            p_e = self._sample(method, evidence, targets, params, ctx, result)
        elapsed = time.perf_counter() - t0
        result["p_evidence"] = p_e
        result["metrics"] = {"query_s": elapsed, "compile_s": self.metrics.get("compile_s", 0.0),
                             "parse_s": self.metrics.get("parse_s", 0.0), "targets": float(len(targets)),
                             "evidence_nodes": float(len(evidence.variables))}
        return result

    def _sample(self, method: str, evidence: Evidence, targets: list[int], params: Mapping[str, Any],
                ctx: RunContext, result: dict[str, Any]) -> float | None:
        from engines.bayes import sampling

        net, _ = self._loaded()
        samples = int(params.get("samples") or 10_000)
        seed = params.get("seed")
        seed = int(seed) if seed is not None else None

        def progress(done: int, total: int) -> None:
            ctx.progress(done, total, "sampling")

        if method == "lw":
            est = sampling.likelihood_weighting(net, evidence, samples, seed, ctx.check_cancelled, progress)
        else:
            burn_in = int(params.get("burn_in", sampling.DEFAULT_BURN_IN))
            chains = int(params.get("chains", sampling.DEFAULT_CHAINS))
            est = sampling.gibbs(net, evidence, samples, burn_in, chains, seed, ctx.check_cancelled, progress)
        result["posteriors"] = posteriors_by_name(net, {v: est.marginals[v] for v in targets})
        result["stderr"] = posteriors_by_name(net, {v: est.stderr[v] for v in targets})
        result["max_stderr"] = max((float(est.stderr[v].max()) for v in targets), default=0.0)
        result["samples"] = est.samples
        result["effective_samples"] = est.effective_samples
        result["warnings"] = est.warnings
        return est.p_evidence

    def _batch_query(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        net, _ = self._loaded()
        tree = self._tree()
        rows_in = params.get("evidence_batch")
        if not isinstance(rows_in, list | tuple) or not rows_in:
            raise EngineError(ErrorKind.BAD_INPUT, "batch_query needs evidence_batch: a non-empty list of "
                              "evidence sets")
        rows = [_row_evidence(net, row) for row in rows_in]
        targets = self._targets(params.get("targets"))
        per_row = max(1, 3 * sum(tree.layout.sizes) * 8)
        chunk = max(1, min(len(rows), int(self.budget_bytes // per_row)))
        t0 = time.perf_counter()
        marg: dict[int, list[np.ndarray]] = {v: [] for v in targets}
        logs: list[np.ndarray] = []
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            lik = {v: tree.ops.asarray(a) for v, a in batch_likelihoods(net, part).items()}
            cal = tree.calibrate(lik, targets, ctx.check_cancelled)
            for v in targets:
                marg[v].append(np.broadcast_to(cal.marginals[v], (len(part), net.cards[v])))
            logs.append(np.broadcast_to(cal.log_evidence, (len(part),)))
            ctx.progress(min(len(rows), start + chunk), len(rows), "batch")
        elapsed = time.perf_counter() - t0
        log_e = np.minimum(np.concatenate(logs), 0.0)
        impossible = [int(i) for i in np.flatnonzero(~np.isfinite(log_e))]
        return {
            "network": net.name, "method": "jt", "rows": len(rows),
            "states": {net.variables[v]: net.states[v] for v in targets},
            "posteriors": {net.variables[v]: np.concatenate(marg[v]).tolist() for v in targets},
            "p_evidence": np.exp(log_e).tolist(), "impossible_rows": impossible,
            "metrics": {"query_s": elapsed, "rows": float(len(rows)), "rows_per_s": len(rows) / max(elapsed, 1e-9),
                        "batch_chunk": float(chunk)},
        }

    def _mpe(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        return self._explain(params, ctx, None)

    def _map(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        raw = params.get("targets")
        if raw in (None, "", "all"):
            return self._explain(params, ctx, None)
        return self._explain(params, ctx, self._targets(raw))

    def _explain(self, params: Mapping[str, Any], ctx: RunContext, variables: list[int] | None) -> dict[str, Any]:
        from engines.bayes.mpe import most_probable

        net, _ = self._loaded()
        evidence = parse_evidence(net, params.get("evidence"), params.get("soft_evidence"))
        t0 = time.perf_counter()
        found = most_probable(net, evidence, variables, check=ctx.check_cancelled)
        elapsed = time.perf_counter() - t0
        if evidence.variables and found.p_evidence <= 0:
            raise EngineError(ErrorKind.BAD_INPUT, zero_evidence_message(net, evidence, self._p_evidence))
        return {
            "network": net.name, "method": "mpe" if variables is None else "map",
            "evidence": evidence.describe(net),
            "assignment": {net.variables[v]: net.states[v][s] for v, s in sorted(found.assignment.items())},
            "p_joint": found.p_joint, "p_posterior": found.p_posterior, "p_evidence": found.p_evidence,
            "metrics": {"query_s": elapsed},
        }

    def _voi(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        from engines.bayes.voi import entropy_bits, rank

        net, _ = self._loaded()
        tree = self._tree()
        target_name = params.get("target")
        if not target_name:
            raise EngineError(ErrorKind.BAD_INPUT, "voi needs a target node")
        target = net.var(str(target_name))
        evidence = parse_evidence(net, params.get("evidence"), params.get("soft_evidence"))
        raw = params.get("candidates")
        candidates = self._targets(raw) if raw not in (None, "", "all") else None
        t0 = time.perf_counter()
        found = rank(tree, target, evidence, candidates, ctx.check_cancelled)
        elapsed = time.perf_counter() - t0
        top = int(params.get("top") or len(found.ranking))
        return {
            "network": net.name, "target": net.variables[target], "evidence": evidence.describe(net),
            "target_entropy_bits": found.target_entropy,
            "posterior": dict(zip(net.states[target], found.posterior.tolist(), strict=True)),
            "ranking": [{"node": net.variables[v], "expected_entropy_reduction_bits": mi,
                         "expected_entropy_after_bits": max(0.0, found.target_entropy - mi)}
                        for v, mi in found.ranking[:top]],
            "uniform_entropy_bits": entropy_bits(np.full(net.cards[target], 1 / net.cards[target])),
            "metrics": {"query_s": elapsed, "candidates": float(len(found.ranking))},
        }

    def _write(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        from engines.bayes.formats.write import write_network

        net, _ = self._loaded()
        target = params.get("path")
        if not target:
            raise EngineError(ErrorKind.BAD_INPUT, "write needs a path")
        path = Path(str(target)).expanduser()
        t0 = time.perf_counter()
        fmt = write_network(net, path, params.get("format"))
        return {"path": str(path), "format": fmt, "bytes": path.stat().st_size,
                "metrics": {"write_s": time.perf_counter() - t0}}

    def _networks(self, params: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"networks": catalogue.listing()}

    # --- helpers ---------------------------------------------------------------------------------
    def _loaded(self) -> tuple[BayesNet, TreeLayout]:
        if self.net is None or self.layout is None:
            raise EngineError(ErrorKind.BAD_INPUT, "no network is loaded")
        return self.net, self.layout

    def _tree(self) -> CompiledTree:
        if self.tree is None:
            raise EngineError(ErrorKind.OUT_OF_MEMORY, self.refusal or "the junction tree is not compiled")
        return self.tree

    def _targets(self, raw: Any) -> list[int]:
        net, _ = self._loaded()
        if raw in (None, "", "all") or raw == ["all"]:
            return list(range(net.size))
        names = raw.split(",") if isinstance(raw, str) else list(raw)
        out = []
        for name in names:
            v = net.var(str(name).strip())
            if v not in out:
                out.append(v)
        return out

    def _calibrate(self, evidence: Evidence, targets: list[int], ctx: RunContext) -> Calibration:
        net, _ = self._loaded()
        tree = self._tree()
        lik = {v: tree.ops.asarray(a) for v, a in evidence.likelihoods(net.cards).items()}
        cal = tree.calibrate(lik, targets, ctx.check_cancelled)
        if not np.isfinite(cal.log_evidence[0]):
            raise EngineError(ErrorKind.BAD_INPUT, zero_evidence_message(net, evidence, self._p_evidence))
        return cal

    def _p_evidence(self, evidence: Evidence) -> float:
        net, _ = self._loaded()
        if self.tree is None:
            from engines.bayes import ve

            return ve.joint_evidence(net, evidence)
        lik = {v: self.tree.ops.asarray(a) for v, a in evidence.likelihoods(net.cards).items()}
        return float(np.exp(self.tree.calibrate(lik, []).log_evidence[0]))


def _resolve(model: str) -> Path:
    path = Path(model).expanduser()
    if path.is_file():
        return path
    found = catalogue.locate(model)
    if found is not None:
        return found
    if path.exists():
        raise EngineError(ErrorKind.BAD_INPUT, f"{model} is not a file")
    known = ", ".join(catalogue.NETWORKS)
    raise EngineError(ErrorKind.NOT_FOUND, f"no file or catalogue network named {model!r} (networks: {known})")


def _budget(options: Mapping[str, Any], device: str) -> int:
    if options.get("max_memory_bytes"):
        return int(options["max_memory_bytes"])
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free * MEMORY_SHARE)
    import psutil

    return int(psutil.virtual_memory().available * MEMORY_SHARE)


def _row_evidence(net: BayesNet, row: Any) -> Evidence:
    if isinstance(row, Mapping) and ("evidence" in row or "soft_evidence" in row):
        return parse_evidence(net, row.get("evidence"), row.get("soft_evidence"))
    return parse_evidence(net, row)
