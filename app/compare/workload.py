"""Comparison workloads, registered per engine: each ``EngineSpec.compare_workload`` names one.

A :class:`Workload` says how one engine is compared: which configurations to plan on the chosen devices
and how to measure one of them. The planner and the runner look workloads up here by engine id, so a new
engine brings its own workload without an ``if``/``elif`` in the comparison code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.compare.measure import MeasureContext
    from app.compare.plan import CompareSettings, Config
    from app.compare.results import ResultRow


@dataclass(frozen=True)
class PlanMachine:
    """What planning knows about this machine for one engine."""

    cores: int  # physical cores (LLM thread sweep)
    threads: int  # the default worker threads
    supported: tuple[str, ...]  # every device id the engine can use here, chosen or not


@dataclass(frozen=True)
class Workload:
    """How one engine is compared."""

    engine: str
    default_repeat: int  # measured repetitions when the user chose none
    # The configurations to measure on ``devices`` (already narrowed to the user's choice, CPU first).
    configs: Callable[[CompareSettings, Sequence[str], PlanMachine], list[Config]]
    # Measures one configuration; the dict is shared by every configuration of the session.
    measure: Callable[[MeasureContext, dict[str, Any]], ResultRow]
    needs_cpu_bandwidth: bool = False  # the runner probes memory bandwidth once before the session


# Workloads that belong to no engine plugin: endpoints measured by the serving benchmark (app/loadgen).
BUILTIN = {"endpoint": "app.compare.endpoint_workload:WORKLOAD"}


def _load(reference: str) -> Workload:
    module_name, _, attr = reference.partition(":")
    found = getattr(importlib.import_module(module_name), attr)
    if not isinstance(found, Workload):
        raise TypeError(f"{reference} is a {type(found).__name__}, not a comparison Workload")
    return found


def workload(engine_id: str) -> Workload:
    """The comparison workload of an engine; KeyError when the engine is missing or declares none."""
    from app.discovery import get_spec

    if engine_id in BUILTIN:
        return _load(BUILTIN[engine_id])
    spec = get_spec(engine_id)
    if not spec.compare_workload:
        raise KeyError(f"engine {engine_id!r} has no comparison workload")
    return _load(spec.compare_workload)


def workload_ids() -> tuple[str, ...]:
    """Every installed engine with a comparison workload, in model-family order (llm, vision, bayes, ...)."""
    from app.discovery import discover
    from engines.base import EngineKind

    order = list(EngineKind)
    specs = [s for s in discover().specs.values() if s.compare_workload]
    return tuple(s.id for s in sorted(specs, key=lambda s: (order.index(s.kind), s.id)))
