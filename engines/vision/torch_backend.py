"""Torch eager inference on CPU, CUDA, MPS or DirectML, in fp32 or (on GPUs) fp16."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.vision.backend import check_precision, is_gpu_device


def torch_device(device: str) -> Any:
    """The ``torch.device`` for a workbench device id, or a device error saying why it is unusable."""
    import torch

    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise EngineError(ErrorKind.DEVICE, f"{device}: no such CUDA device (torch sees "
                                                f"{torch.cuda.device_count() if torch.cuda.is_available() else 0})")
        return torch.device("cuda", index)
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise EngineError(ErrorKind.DEVICE, "mps: Apple Metal is not available to torch here")
        return torch.device("mps")
    if device.startswith("dml"):
        try:
            import torch_directml  # type: ignore[import-not-found]
        except ImportError as exc:
            raise EngineError(ErrorKind.DEVICE, f"{device}: DirectML needs the torch-directml package") from exc
        return torch_directml.device(int(device.partition(":")[2] or 0))
    if device.startswith("ort:"):
        raise EngineError(ErrorKind.DEVICE, f"{device}: torch cannot run on this device; it is an ONNX Runtime "
                                            "provider (use --backend onnxruntime)")
    raise EngineError(ErrorKind.DEVICE, f"unknown device {device!r} (cpu, cuda:N, mps, dml:N or ort:<Provider>:N)")


class TorchBackend:
    """Eager PyTorch inference of one module."""

    name = "torch"

    def __init__(self, module: Any, device: str, precision: str, threads: int) -> None:
        import torch

        check_precision(precision)
        if precision == "int8":
            raise EngineError(ErrorKind.UNSUPPORTED, "int8 runs through ONNX Runtime quantization: use "
                                                     "--backend onnxruntime (or auto) with --precision int8")
        if precision == "fp16" and not is_gpu_device(device):
            raise EngineError(ErrorKind.UNSUPPORTED, f"fp16 needs a GPU; {device} computes fp16 convolutions "
                                                     "slowly or not at all (use fp32 or int8)")
        torch.set_num_threads(max(1, threads))
        self.device = device
        self.precision = precision
        self._torch_device = torch_device(device)
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        if device == "cpu" and precision == "fp32":
            self._module = module  # share the reference module: no copy needed
        else:
            self._module = copy.deepcopy(module).to(self._torch_device, dtype=self._dtype)
        self._module.eval()
        self.details: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                                        "dtype": str(self._dtype).replace("torch.", "")}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a batch, as float32 on the CPU."""
        import torch

        with torch.inference_mode():
            inputs = torch.from_numpy(batch).to(self._torch_device, dtype=self._dtype)
            outputs = self._module(inputs)
            return np.asarray(outputs.float().cpu().numpy(), dtype=np.float32)

    def close(self) -> None:
        """Drop the module (GPU memory goes back to torch's cache)."""
        self._module = None
