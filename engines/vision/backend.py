"""What every inference backend offers, and the helpers shared by them."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from engines.base import EngineError, ErrorKind

PRECISIONS = ("fp32", "fp16", "int8")
BACKENDS = ("torch", "onnxruntime")


class Backend(Protocol):
    """Runs a batch of preprocessed images (N, 3, H, W float32) and returns logits (N, classes) float32."""

    name: str  # "torch" | "onnxruntime"
    precision: str  # "fp32" | "fp16" | "int8"
    device: str  # the workbench device id
    details: dict[str, Any]  # providers, dtype, fallbacks... shown with results

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a batch."""
        ...

    def close(self) -> None:
        """Release memory held by this backend."""
        ...


def check_precision(precision: str) -> str:
    """Validate a precision name."""
    if precision not in PRECISIONS:
        raise EngineError(ErrorKind.BAD_INPUT, f"unknown precision {precision!r} (choose {', '.join(PRECISIONS)})")
    return precision


def is_gpu_device(device: str) -> bool:
    """True for devices where fp16 is worth running (GPUs and accelerator providers)."""
    return device.startswith(("cuda:", "dml:", "mps")) or (
        device.startswith("ort:") and not device.startswith("ort:CPUExecutionProvider"))
