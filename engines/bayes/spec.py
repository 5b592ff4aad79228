"""The Bayesian network engine's light spec (found through the ``workbench.engines`` entry point)."""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import Device, EngineKind, EngineSpec, OptionSpec
from engines.bayes.catalogue import NETWORKS

METHODS = ("jt", "ve", "lw", "gibbs")  # junction tree, variable elimination, likelihood weighting, Gibbs


def _devices(devices: Sequence[Device]) -> list[str]:
    # Exact inference runs on torch GPUs too; sampling and elimination stay on the CPU.
    return ["cpu"] + [d.id for d in devices if d.kind == "gpu" and d.backend == "torch"]


# Below this many junction-tree entries, numpy on the CPU beats a GPU: each message pass is many tiny
# kernels whose launch cost dominates (ALARM, ~10^4 entries, ran 7x slower on an H100). The figure is the
# crossover bench/bayes_gpu.py measures on a GPU machine; until then it is set where the tables are large
# enough for one kernel to do ~1 ms of work. Override with the load option ``gpu_min_entries``.
GPU_MIN_ENTRIES = 2_000_000


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
    compare_workload="app.compare.bayes_workload:WORKLOAD",
    load_options=(
        OptionSpec("backend", "choice", "auto", ("auto", "numpy", "torch"), help="array library of exact inference"),
        OptionSpec("normalize", "bool", False, help="rescale tables whose columns do not sum to one"),
        OptionSpec("gpu_min_entries", "int", GPU_MIN_ENTRIES,
                   help="auto on a GPU: junction trees smaller than this stay on numpy (measured crossover)"),
    ),
    op_options=(OptionSpec("query.method", "choice", "auto", ("auto", *METHODS),
                           help="auto: the junction tree where it compiles, else elimination"),),
    default_model="alarm",
    starter_models=tuple(NETWORKS),  # the classic networks shipped in resources/networks
    backends=("numpy", "torch"),
    precisions=("float64",),
)
