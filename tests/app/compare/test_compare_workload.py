"""Comparison workloads are registered per engine: a new engine is planned and measured with no code change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.compare.measure import MeasureContext
from app.compare.plan import CompareSettings, Config, PlanError, build_plan
from app.compare.results import ResultRow
from app.compare.runner import CompareRunner, cpu_only_report
from app.compare.workload import PlanMachine, Workload, workload, workload_ids
from app.discovery import register_spec, unregister_spec
from app.history import History
from tests.support.echo_engine import SPEC as ECHO_SPEC


def _echo_configs(settings: CompareSettings, devices: Sequence[str], machine: PlanMachine) -> list[Config]:
    return [Config("echo", "echo", device, "python", "", f"{count} tokens", machine.threads, "echo-model",
                   options={"count": count}) for device in devices for count in (3, 6)]


def _echo_measure(ctx: MeasureContext, shared: dict[str, Any]) -> ResultRow:
    config = ctx.config
    row = ResultRow("echo", config.device, config.backend, config.precision, config.variant)
    with ctx.start_worker() as client:
        _info, cold_s = ctx.load(client, config.model, config.device, {})
        result = ctx.record(client, "stream", {"count": config.options["count"]})
    shared["measured"] = shared.get("measured", 0) + 1
    row.metrics.update(cold_start_s=cold_s, tokens=float(result["metrics"]["tokens"]),
                       measured_before=float(shared["measured"] - 1))
    return row


ECHO_WORKLOAD = Workload("echo", default_repeat=1, configs=_echo_configs, measure=_echo_measure)
NOT_A_WORKLOAD = "a string"


@pytest.fixture
def echo_engine() -> Iterator[None]:
    register_spec(dataclasses.replace(
        ECHO_SPEC, compare_workload="tests.app.compare.test_compare_workload:ECHO_WORKLOAD"))
    yield
    unregister_spec(ECHO_SPEC.id)


def test_the_built_in_engines_register_their_workloads_in_family_order() -> None:
    assert workload_ids()[:3] == ("llm", "vision", "bayes")
    assert [workload(w).default_repeat for w in ("llm", "vision", "bayes")] == [3, 20, 10]
    assert workload("llm").needs_cpu_bandwidth and not workload("bayes").needs_cpu_bandwidth
    assert CompareSettings().repeat_for("vision") == 20


def test_an_engine_without_a_workload_is_refused_by_name() -> None:
    register_spec(ECHO_SPEC)  # the plain echo spec declares no comparison workload
    try:
        assert "echo" not in workload_ids()
        with pytest.raises(KeyError, match="no comparison workload"):
            workload("echo")
        with pytest.raises(PlanError, match="unknown workload echo"):
            CompareSettings(workloads=("echo",))
        register_spec(dataclasses.replace(
            ECHO_SPEC, compare_workload="tests.app.compare.test_compare_workload:NOT_A_WORKLOAD"))
        with pytest.raises(TypeError, match="not a comparison Workload"):
            workload("echo")
    finally:
        unregister_spec(ECHO_SPEC.id)


def test_a_registered_engine_is_planned_by_its_own_workload(echo_engine: None) -> None:
    settings = CompareSettings(workloads=("echo", "bayes"), devices=("cpu",), bayes_methods=("jt",))
    plan = build_plan(settings, {"echo": ["cpu"], "bayes": ["cpu"]}, cores=4, threads=2)
    assert [c.label for c in plan] == ["echo cpu python 3 tokens", "echo cpu python 6 tokens",
                                       "bayes cpu numpy float64 jt"]
    assert {c.threads for c in plan} == {2}


def test_a_registered_engine_is_measured_in_real_workers(echo_engine: None, tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    try:
        settings = CompareSettings(workloads=("echo",), devices=("cpu",))
        session = CompareRunner(settings, history, device_report=cpu_only_report("not probed in this test")).run()
        assert session.status == "ok", [r.flags for r in session.results]
        assert [(r.variant, r.metrics["tokens"]) for r in session.results] == [("3 tokens", 3.0),
                                                                             ("6 tokens", 6.0)]
        # The shared dict lives for the whole session, one per workload.
        assert [r.metrics["measured_before"] for r in session.results] == [0.0, 1.0]
        runs = history.runs(compare_id=session.id)
        assert len(runs) == 2 and {r["engine"] for r in runs} == {"echo"}
        assert all(r.metrics["cold_start_s"] > 0 for r in session.results)
    finally:
        history.close()
