"""The Bayesian network engine's light spec (found through the ``workbench.engines`` entry point)."""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import Device, EngineKind, EngineSpec


def _devices(devices: Sequence[Device]) -> list[str]:
    # Exact inference runs on torch GPUs too; sampling and elimination stay on the CPU.
    return ["cpu"] + [d.id for d in devices if d.kind == "gpu" and d.backend == "torch"]


SPEC = EngineSpec(
    id="bayes",
    kind=EngineKind.BAYES,
    title="Bayesian networks (junction tree, elimination, sampling)",
    engine_class="engines.bayes.engine:BayesEngine",
    file_types=(".bif", ".bif.gz", ".xmlbif", ".xml", ".xdsl", ".net", ".uai"),
    ops=("info", "query", "batch_query", "mpe", "map", "voi", "write", "networks"),
    supported_devices=_devices,
    description="Exact posteriors of every node in one junction-tree calibration (numpy or torch), "
                "variable elimination, likelihood weighting and Gibbs sampling, MAP/MPE and value of "
                "information, for BIF, XMLBIF, XDSL, Hugin NET and UAI files and the classic networks.",
)
