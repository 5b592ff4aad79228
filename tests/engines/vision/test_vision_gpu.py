"""EfficientNet-Lite0 on a CUDA GPU: torch fp32/fp16 against the CPU reference, ONNX Runtime's provider.

Skipped where torch sees no CUDA device (this project's CI); run on a GPU machine (bench/RESULTS.md
records when and where).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vision_helpers import SAMPLES, RecordingContext, loaded_engine

from app.model_refs import resolve_model_ref
from engines.base import EngineError, ErrorKind
from engines.vision.decode import decode_image
from engines.vision.postprocess import probabilities, top_k_indices
from engines.vision.preprocess import preprocess


def _cuda_devices() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


pytestmark = pytest.mark.skipif(_cuda_devices() == 0, reason="no CUDA device visible to torch")


@pytest.fixture(scope="module")
def gpu_engine() -> Iterator[Any]:
    """EfficientNet-Lite0 on cuda:0 through torch, batch 8."""
    lite0 = str(resolve_model_ref("efficientnet-lite0", "vision"))
    with loaded_engine(lite0, "cuda:0", {"backend": "torch", "batch": 8}) as engine:
        yield engine


def _batch(engine: Any) -> np.ndarray:
    config = engine._runtime.model.preprocess
    return np.stack([preprocess(decode_image(p).image, config)[0] for p in sorted(SAMPLES.glob("*.jpg"))])


def test_torch_cuda_fp32_matches_the_cpu_reference(gpu_engine: Any) -> None:
    runtime = gpu_engine._runtime
    batch = _batch(gpu_engine)
    cpu = probabilities(runtime.reference().infer(batch))
    gpu = probabilities(runtime.get("torch", "fp32", "cuda:0").infer(batch))
    # TF32 is off for convolutions in eager torch by default, so fp32 stays within the CPU tolerance.
    assert np.abs(cpu - gpu).max() < 1e-3
    assert (top_k_indices(cpu, 1) == top_k_indices(gpu, 1)).all()


def test_torch_cuda_fp16_keeps_the_top1_answers(gpu_engine: Any) -> None:
    runtime = gpu_engine._runtime
    batch = _batch(gpu_engine)
    cpu = probabilities(runtime.reference().infer(batch))
    half = runtime.get("torch", "fp16", "cuda:0")
    assert half.details["dtype"] == "float16"
    fp16 = probabilities(half.infer(batch))
    assert (top_k_indices(cpu, 1) == top_k_indices(fp16, 1)).all()
    assert np.abs(cpu - fp16).max() < 0.05


def test_classify_folder_on_the_gpu(gpu_engine: Any) -> None:
    ctx = RecordingContext()
    result = gpu_engine.run("classify", {"paths": [str(SAMPLES)], "topk": 3}, ctx)
    assert result["device"] == "cuda:0" and result["backend"] == "torch"
    assert result["classified"] == 4 and result["failed"] == 0
    by_name = {Path(p["path"]).name: p for p in ctx.partials}
    assert by_name["coffee.jpg"]["top"][0]["label"] == "espresso"


def test_agreement_on_the_gpu_lists_each_precision(gpu_engine: Any) -> None:
    result = gpu_engine.run("agreement", {}, RecordingContext())
    rows = {(r["backend"], r["precision"]): r for r in result["rows"]}
    assert rows[("torch", "fp32")]["top1_agreement"] == 1.0
    assert rows[("torch", "fp16")]["top1_agreement"] == 1.0


def test_benchmark_on_the_gpu(gpu_engine: Any) -> None:
    result = gpu_engine.run("benchmark", {"batch_sizes": [1, 8], "iterations": 5, "warmup": 2,
                                          "backends": ["torch"]}, RecordingContext())
    rows = {r["batch"]: r for r in result["rows"]}
    assert rows[8]["images_per_s"] > rows[1]["images_per_s"] > 0


def test_onnxruntime_on_cuda_runs_there_or_says_which_providers_exist(gpu_engine: Any) -> None:
    import onnxruntime as ort

    runtime = gpu_engine._runtime
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(EngineError) as missing:
            runtime.get("onnxruntime", "fp32", "cuda:0")
        assert missing.value.kind is ErrorKind.DEVICE and "CUDAExecutionProvider" in missing.value.message
        return
    backend = runtime.get("onnxruntime", "fp32", "cuda:0")
    batch = _batch(gpu_engine)
    cpu = probabilities(runtime.reference().infer(batch))
    assert "fallback" not in backend.details
    assert np.abs(cpu - probabilities(backend.infer(batch))).max() < 1e-3
