"""How far each backend and precision strays from the fp32 CPU reference on the same inputs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from engines.base import EngineError
from engines.vision.backend import is_gpu_device
from engines.vision.postprocess import probabilities, top_k_indices
from engines.vision.runtime import Runtime


def default_combos(runtime: Runtime) -> list[tuple[str, str]]:
    """(backend, precision) pairs worth comparing on this device."""
    combos = [("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    if runtime.model.module is not None:
        combos.insert(0, ("torch", "fp32"))
    if is_gpu_device(runtime.device):
        combos += [("onnxruntime", "fp16")] + ([("torch", "fp16")] if runtime.model.module is not None else [])
    return combos


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, top-5 set equality and probability differences between two probability arrays."""
    ref_top = top_k_indices(reference, 5)
    top = top_k_indices(other, 5)
    same_set = [set(a.tolist()) == set(b.tolist()) for a, b in zip(ref_top, top, strict=True)]
    return {
        "top1_agreement": float(np.mean(ref_top[:, 0] == top[:, 0])),
        "top5_equal": float(np.mean(same_set)),
        "top5_order_equal": float(np.mean([(a == b).all() for a, b in zip(ref_top, top, strict=True)])),
        "max_prob_diff": float(np.abs(reference - other).max()),
        "mean_prob_diff": float(np.abs(reference - other).mean()),
    }


def agreement(runtime: Runtime, inputs: np.ndarray, combos: Sequence[tuple[str, str]],
              device: str | None = None) -> dict[str, Any]:
    """Compare every (backend, precision) on ``device`` with the fp32 CPU reference."""
    device = device or runtime.device
    reference = probabilities(runtime.reference().infer(inputs))
    rows: list[dict[str, Any]] = []
    for backend_name, precision in combos:
        row: dict[str, Any] = {"backend": backend_name, "precision": precision, "device": device}
        try:
            backend = runtime.get(backend_name, precision, device)
            started = time.perf_counter()
            other = probabilities(backend.infer(inputs))
            row["batch_ms"] = (time.perf_counter() - started) * 1000
            row.update(compare(reference, other))
            if backend.details.get("fallback"):
                row["note"] = backend.details["fallback"]
        except EngineError as exc:
            row["error"] = exc.message
        rows.append(row)
    return {"reference": runtime.reference_name(), "images": int(inputs.shape[0]), "rows": rows}


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    """``<backend>_<precision>_<stat>`` numbers for the history."""
    out: dict[str, float] = {}
    for row in result["rows"]:
        if "error" in row:
            continue
        prefix = f"{row['backend']}_{row['precision']}"
        for stat in ("top1_agreement", "top5_equal", "max_prob_diff"):
            out[f"{prefix}_{stat}"] = float(row[stat])
    return out
