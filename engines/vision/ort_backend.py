"""ONNX Runtime inference with the execution provider that matches the chosen device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.vision.backend import check_precision, is_gpu_device
from engines.vision.ort_telemetry import import_onnxruntime
from engines.vision.spec import SPEC


def providers_for(device: str, available: list[str]) -> list[Any]:
    """The provider list for a device id (the CPU provider always last, as the fallback)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("ort:"):
        provider = device.split(":")[1]
        index = int(device.split(":")[2]) if device.count(":") >= 2 and device.split(":")[2].isdigit() else 0
    else:
        provider = SPEC.provider_for(device) or ""
        index = int(device.partition(":")[2] or 0)
    if provider not in available:
        raise EngineError(ErrorKind.DEVICE, f"{device}: ONNX Runtime here has no {provider or 'provider for it'} "
                                            f"(available: {', '.join(available)})")
    if provider == "CPUExecutionProvider":
        return [provider]
    options: dict[str, Any] = {"device_id": index} if provider in ("CUDAExecutionProvider",
                                                                  "DmlExecutionProvider") else {}
    return [(provider, options), "CPUExecutionProvider"]


class OrtBackend:
    """One ONNX Runtime session over an fp32, fp16 or int8 graph."""

    name = "onnxruntime"

    def __init__(self, graph: Path, device: str, precision: str, threads: int) -> None:
        ort = import_onnxruntime()

        check_precision(precision)
        if precision == "fp16" and not is_gpu_device(device):
            raise EngineError(ErrorKind.UNSUPPORTED, f"fp16 needs a GPU or NPU provider; on {device} ONNX Runtime "
                                                     "has no fast fp16 kernels (use fp32 or int8)")
        self.device = device
        self.precision = precision
        options = ort.SessionOptions()
        # Explicit counts: ONNX Runtime's default pool was 3x slower on small VMs.
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # Idle intra-op threads spin by default; on few cores that starves the decode thread of a folder run
        # (the ONNX Runtime twin of OMP_WAIT_POLICY=PASSIVE).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        requested = providers_for(device, list(ort.get_available_providers()))
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=requested)
        except Exception as exc:
            words = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
            raise EngineError(ErrorKind.UNSUPPORTED if "NOT_IMPLEMENTED" in str(exc) else ErrorKind.BAD_INPUT,
                              f"ONNX Runtime cannot run {graph.name} on {device}: {words}") from exc
        wanted = requested[0] if isinstance(requested[0], str) else requested[0][0]
        used = list(self._session.get_providers())
        self._input = self._session.get_inputs()[0].name
        self.details: dict[str, Any] = {"onnxruntime": ort.__version__, "graph": str(graph),
                                        "providers": used, "threads": threads}
        if used and used[0] != wanted:
            # Silent CPU fallback is the usual NPU/GPU trap: say it where the numbers are shown.
            self.details["fallback"] = f"{wanted} was not used; ONNX Runtime runs on {used[0]}"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a batch."""
        outputs = self._session.run(None, {self._input: batch})
        return np.asarray(outputs[0], dtype=np.float32)

    def close(self) -> None:
        """Release the session."""
        self._session = None
