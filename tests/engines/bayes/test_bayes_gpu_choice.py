"""The auto backend on a GPU device keeps junction trees below the measured crossover on numpy."""

from __future__ import annotations

import pytest

from engines.base import DirectContext, EngineError, ErrorKind
from engines.bayes.backend import choose_ops
from engines.bayes.engine import BayesEngine
from engines.bayes.spec import GPU_MIN_ENTRIES


def test_small_trees_stay_on_numpy_on_a_gpu_device() -> None:
    engine = BayesEngine()
    info = engine.load("alarm", "cuda:0", {}, DirectContext())  # no GPU needed: it never touches CUDA
    assert info["backend"] == "numpy" and "below the" in info["backend_note"] and "gpu_min_entries" in \
        info["backend_note"]
    result = engine.run("query", {"evidence": {"HYPOVOLEMIA": "TRUE"}}, DirectContext())
    assert result["posteriors"]["HYPOVOLEMIA"]["TRUE"] == pytest.approx(1.0)


def test_the_crossover_can_be_moved_and_explicit_choices_are_kept() -> None:
    ops, note = choose_ops("cpu", {}, 10**9)
    assert ops.name == "numpy" and note == ""
    ops, note = choose_ops("cuda:0", {"gpu_min_entries": 10}, 5)
    assert ops.name == "numpy" and "10" in note
    assert GPU_MIN_ENTRIES > 0
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        ops, note = choose_ops("cuda:0", {"gpu_min_entries": 0}, 5)
        assert ops.name != "numpy" and note == ""
    else:
        with pytest.raises(EngineError) as refused:
            choose_ops("cuda:0", {"gpu_min_entries": 0}, 5)
        assert refused.value.kind == ErrorKind.DEVICE
