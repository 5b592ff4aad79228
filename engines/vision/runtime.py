"""One loaded model and the backends built for it on demand (torch, ONNX Runtime fp32/fp16/int8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engines.base import EngineError, ErrorKind
from engines.vision.backend import BACKENDS, Backend, check_precision
from engines.vision.loader import LoadedModel


class Runtime:
    """Builds and keeps backends for one model; the reference is torch fp32 on the CPU."""

    def __init__(self, model: LoadedModel, device: str, threads: int, *, calibration: str | None = None,
                 on_progress: Callable[[str], None] | None = None) -> None:
        self.model = model
        self.device = device
        self.threads = threads
        self.calibration = calibration
        self.on_progress = on_progress
        self.exported_from_cache: bool | None = None
        self._backends: dict[tuple[str, str, str], Backend] = {}

    def get(self, backend: str, precision: str = "fp32", device: str | None = None) -> Backend:
        """The backend for (backend, precision, device), built on first use."""
        device = device or self.device
        check_precision(precision)
        key = (backend, precision, device)
        if key not in self._backends:
            self._backends[key] = self._build(backend, precision, device)
        return self._backends[key]

    def reference(self) -> Backend:
        """fp32 on the CPU: torch when the model has a torch module, else ONNX Runtime."""
        return self.get("torch" if self.model.module is not None else "onnxruntime", "fp32", "cpu")

    def reference_name(self) -> str:
        """Words for the reference backend."""
        return f"{'torch' if self.model.module is not None else 'onnxruntime'} fp32 cpu"

    def release(self, keep: tuple[str, str, str] | None = None) -> None:
        """Close every backend except ``keep``."""
        for key in [k for k in self._backends if k != keep]:
            self._backends.pop(key).close()

    def _build(self, backend: str, precision: str, device: str) -> Backend:
        if backend == "torch":
            if self.model.module is None:
                raise EngineError(ErrorKind.UNSUPPORTED, f"{self.model.weights_path.name} is an ONNX graph: only "
                                                         "ONNX Runtime can run it")
            from engines.vision.torch_backend import TorchBackend

            return TorchBackend(self.model.module, device, precision, self.threads)
        if backend == "onnxruntime":
            from engines.vision.ort_backend import OrtBackend

            return OrtBackend(self.graph(precision), device, precision, self.threads)
        raise EngineError(ErrorKind.BAD_INPUT, f"unknown backend {backend!r} (choose {', '.join(BACKENDS)} or auto)")

    def graph(self, precision: str) -> Path:
        """The ONNX file for a precision: exported (cached) from torch, then converted or quantized."""
        fp32 = self.fp32_graph()
        if precision == "fp32":
            return fp32
        if precision == "fp16":
            from engines.vision.onnx_export import cached_fp16

            self._say("converting the ONNX graph to fp16")
            return cached_fp16(fp32)
        from engines.vision.calibration import calibration_samples
        from engines.vision.quantize import cached_int8

        samples = calibration_samples(self.model.preprocess, self.calibration)
        self._say(f"int8: calibrating on {len(samples)} inputs (cached after the first time)")
        path, _ = cached_int8(fp32, samples)
        return path

    def fp32_graph(self) -> Path:
        """The fp32 ONNX file: the model itself, or its cached export."""
        if self.model.onnx_path is not None:
            return self.model.onnx_path
        from engines.vision.onnx_export import cached_export, preprocess_metadata

        path, cached = cached_export(self.model.module, self.model.sha256, self.model.preprocess.input_size,
                                     metadata={"workbench.model": self.model.name,
                                               **preprocess_metadata(self.model.preprocess.describe())},
                                     on_progress=self._say)
        self.exported_from_cache = cached
        return path

    def _say(self, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(message)

    def close(self) -> None:
        """Close every backend."""
        self.release()
