"""The Bayes workload: compile time and all-marginals query time per inference method and device.

* cold: worker start + parse + junction-tree planning and compilation (``cold_start_s``; ``compile_ms``
  is the junction tree's compilation, reported on ``jt`` rows), then the first query (``cold_first_ms``);
* warm: the posterior of every node given the same evidence, ``repeat`` times or for ``duration`` seconds,
  after ``warmup`` queries; ``query_ms`` is the engine's own timing of each query;
* accuracy: the largest difference of any posterior from the exact (junction tree) answer.

The evidence is chosen once per session: the user's, or five leaf nodes set to their most likely state
(as in BAYES.md's "ev" column), so every method and device answers the same question.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from app.compare.measure import MeasureContext, StepFailed
from app.compare.plan import CompareSettings, Config
from app.compare.results import INFO, ResultRow
from app.compare.workload import PlanMachine, Workload
from core.metrics import latency_summary

LEAF_EVIDENCE = 5
APPROXIMATE = ("lw", "gibbs")


def configs(settings: CompareSettings, devices: Sequence[str], machine: PlanMachine) -> list[Config]:
    """Each inference method on the CPU (numpy); the junction tree on GPUs (torch).

    The engine runs elimination and sampling on the CPU whatever the device, so only ``jt`` is planned
    for a GPU: anything else would measure the CPU twice.
    """
    out = []
    for device in devices:
        backend = "numpy" if device == "cpu" else "torch"
        for method in settings.bayes_methods:
            if device != "cpu" and method != "jt":
                continue
            out.append(Config("bayes", "bayes", device, backend, "float64", method, machine.threads,
                              settings.bayes_network))
    return out


def _choose_evidence(ctx: MeasureContext, client: Any, exact_method: str) -> dict[str, str]:
    if ctx.settings.bayes_evidence is not None:
        return dict(ctx.settings.bayes_evidence)
    info = ctx.record(client, "info", {})
    leaves = [n["name"] for n in info.get("node_list") or [] if not n.get("children")][:LEAF_EVIDENCE]
    if not leaves:
        return {}
    prior = ctx.record(client, "query", {"method": exact_method, "targets": leaves})
    return {name: max(states, key=states.get) for name, states in prior["posteriors"].items()}


def _max_error(found: Mapping[str, Mapping[str, float]], exact: Mapping[str, Mapping[str, float]]) -> float:
    worst = 0.0
    for node, states in exact.items():
        other = found.get(node) or {}
        for state, p in states.items():
            worst = max(worst, abs(float(other.get(state, 0.0)) - float(p)))
    return worst


def measure(ctx: MeasureContext, shared: dict[str, Any]) -> ResultRow:
    """Measure one (device, method) in its own worker; ``shared`` carries the session's evidence and answer."""
    config, settings = ctx.config, ctx.settings
    method = config.variant
    row = ResultRow("bayes", config.device, config.backend, config.precision, method)
    client = ctx.start_worker()
    with client:
        ctx.progress(0.02, "starting the worker, parsing and compiling")
        info, cold_s = ctx.load(client, config.model, config.device, {"backend": "auto"})
        row.backend = str(info.get("backend") or config.backend)
        load_metrics = info.get("metrics") or {}
        row.metrics.update(cold_start_s=cold_s, parse_ms=float(load_metrics.get("parse_s", 0.0)) * 1000,
                           nodes=float(info.get("nodes") or 0))
        row.metrics["load_ms"] = sum(float(load_metrics.get(k, 0.0)) for k in ("parse_s", "compile_s")) * 1000
        if method == "jt":
            if not info.get("compiled"):
                raise StepFailed(str(info.get("refusal") or "the junction tree could not be compiled"),
                                 "out_of_memory")
            row.metrics["compile_ms"] = float(load_metrics.get("compile_s", 0.0)) * 1000
        exact_method = "jt" if info.get("compiled") else "ve"
        if "evidence" not in shared:
            ctx.progress(0.05, "choosing the evidence")
            shared["evidence"] = _choose_evidence(ctx, client, exact_method)
        evidence = shared["evidence"]
        params: dict[str, Any] = {"method": method, "evidence": evidence, "targets": "all"}
        if method in APPROXIMATE:
            params.update(samples=settings.bayes_samples, seed=1)
        ctx.progress(0.1, "first query (cold)")
        t0 = time.perf_counter()
        first = ctx.record(client, "query", params)
        row.metrics["cold_first_ms"] = (time.perf_counter() - t0) * 1000
        row.metrics["cold_first_query_ms"] = float(first["metrics"]["query_s"]) * 1000
        row.metrics["evidence_nodes"] = float(len(evidence))
        if "exact" not in shared:
            shared["exact"] = first["posteriors"] if method in ("jt", "ve") else ctx.record(
                client, "query", {"method": exact_method, "evidence": evidence, "targets": "all"})["posteriors"]
        for _ in range(max(0, settings.warmup - 1)):
            ctx.record(client, "query", params)
        times: list[float] = []
        errors: list[float] = []
        started = time.perf_counter()
        with ctx.energy.measure() as box:
            while ctx.keep_going(len(times), started):
                ctx.progress(0.2 + 0.75 * min(1.0, len(times) / max(1, ctx.repeat)), f"{method} queries")
                result = ctx.record(client, "query", params)
                times.append(float(result["metrics"]["query_s"]) * 1000)
                errors.append(_max_error(result["posteriors"], shared["exact"]))
                ctx.live("query ms", times[-1])
        row.run_id = ctx.run_ids[-1]
        row.samples["query_ms"] = times
        row.samples["max_error"] = errors
        row.metrics.update({k.replace("latency", "query"): v for k, v in latency_summary(times).items()})
        row.metrics["query_ms"] = row.metrics["query_median_ms"]
        row.metrics["queries_per_s"] = 1000.0 / row.metrics["query_median_ms"] if times else 0.0
        row.metrics["max_error"] = max(errors)
        if box.energy is not None and times:
            row.metrics["joules_per_query"] = box.energy.joules / len(times)
        if method in APPROXIMATE:
            row.metrics["samples"] = float(settings.bayes_samples)
            row.flag("approximate", f"{method} with {settings.bayes_samples:,} samples: largest posterior error "
                                    f"{row.metrics['max_error']:.3g} against the exact answer", INFO)
    ctx.progress(1.0, "done")
    return row


WORKLOAD = Workload("bayes", default_repeat=10, configs=configs, measure=measure)
