"""Array operations for inference, on numpy (CPU) or torch (CPU or GPU), behind one small interface.

The junction tree code calls only these methods, so the same propagation runs on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from engines.base import EngineError, ErrorKind
from engines.bayes.spec import GPU_MIN_ENTRIES


class Ops(Protocol):
    """What the propagation needs from an array library; arrays carry a leading batch axis."""

    name: str
    device: str

    def asarray(self, a: np.ndarray) -> Any:
        """Move a float64 numpy array to this backend."""
        ...

    def to_numpy(self, a: Any) -> np.ndarray:
        """Back to a numpy array."""
        ...

    def sum(self, a: Any, axes: tuple[int, ...]) -> Any:
        """Sum over ``axes``."""
        ...

    def ratio(self, num: Any, den: Any) -> Any:
        """``num / den`` with 0/0 taken as 0 (Hugin's convention)."""
        ...

    def log(self, a: Any) -> Any:
        """Natural logarithm."""
        ...

    def ones_like(self, a: Any) -> Any:
        """An array of ones shaped like ``a``."""
        ...


_add_reduce = np.add.reduce  # the ufunc itself: a.sum() adds two Python layers per call


class NumpyOps:
    """numpy on the CPU."""

    name = "numpy"
    device = "cpu"

    def asarray(self, a: np.ndarray) -> np.ndarray:
        """Move a float64 numpy array to this backend."""
        return a

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        """Back to a numpy array."""
        return np.asarray(a)

    def sum(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """Sum over ``axes``."""
        return _add_reduce(a, axis=axes) if axes else a

    def ratio(self, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        """``num / den`` with 0/0 taken as 0."""
        if den.all():  # the usual case, and much cheaper than a masked divide
            return num / den
        out = np.zeros(np.broadcast(num, den).shape)
        return np.divide(num, den, out=out, where=den != 0)

    def log(self, a: np.ndarray) -> np.ndarray:
        """Natural logarithm (log 0 = -inf without a warning)."""
        with np.errstate(divide="ignore"):
            return np.log(a)

    def ones_like(self, a: np.ndarray) -> np.ndarray:
        """An array of ones shaped like ``a``."""
        return np.ones_like(a)


class TorchOps:
    """torch on a CPU or CUDA device (float64 unless asked otherwise)."""

    name = "torch"

    def __init__(self, device: str, dtype: str = "float64") -> None:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineError(ErrorKind.DEVICE, f"device {device} is not available: torch sees no CUDA GPU")
        try:
            self._device = torch.device(device)
            torch.zeros(1, device=self._device)
        except (RuntimeError, AssertionError) as exc:
            raise EngineError(ErrorKind.DEVICE, f"device {device} cannot be used: {exc}") from None
        self.device = device
        self._torch = torch
        self._dtype = torch.float64 if dtype == "float64" else torch.float32

    def asarray(self, a: np.ndarray) -> Any:
        """Move a float64 numpy array to this backend."""
        return self._torch.as_tensor(np.ascontiguousarray(a), dtype=self._dtype, device=self._device)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Back to a numpy array (float64)."""
        return a.detach().to("cpu", self._torch.float64).numpy()

    def sum(self, a: Any, axes: tuple[int, ...]) -> Any:
        """Sum over ``axes``."""
        return a.sum(dim=axes) if axes else a

    def ratio(self, num: Any, den: Any) -> Any:
        """``num / den`` with 0/0 taken as 0."""
        return self._torch.where(den == 0, self._torch.zeros_like(num), num / den)

    def log(self, a: Any) -> Any:
        """Natural logarithm."""
        return self._torch.log(a)

    def ones_like(self, a: Any) -> Any:
        """An array of ones shaped like ``a``."""
        return self._torch.ones_like(a)


def make_ops(device: str, backend: str = "auto", dtype: str = "float64") -> Ops:
    """numpy for ``cpu`` (or torch when asked); torch for ``cuda:N``."""
    if dtype not in ("float64", "float32"):
        raise EngineError(ErrorKind.BAD_INPUT, f"dtype must be float64 or float32, not {dtype!r}")
    if device == "cpu" and backend in ("auto", "numpy"):
        if dtype != "float64":
            raise EngineError(ErrorKind.UNSUPPORTED, "the numpy backend computes in float64 only")
        return NumpyOps()
    if device != "cpu" and not device.startswith("cuda"):
        raise EngineError(ErrorKind.DEVICE, f"unknown device {device!r} (use cpu or cuda:N)")
    if backend not in ("auto", "torch"):
        raise EngineError(ErrorKind.BAD_INPUT, f"backend must be auto, numpy or torch, not {backend!r}")
    try:
        return TorchOps(device, dtype)
    except ImportError:
        raise EngineError(ErrorKind.DEVICE, f"device {device} needs torch, which is not installed") from None


def choose_ops(device: str, options: Mapping[str, Any], tree_entries: int) -> tuple[Ops, str]:
    """The array backend for ``device`` and the load options; ``auto`` on a GPU keeps small trees on numpy."""
    backend = str(options.get("backend", "auto"))
    dtype = str(options.get("dtype", "float64"))
    threshold = int(options.get("gpu_min_entries", GPU_MIN_ENTRIES))
    if backend == "auto" and device.startswith("cuda") and dtype == "float64" and tree_entries < threshold:
        note = (f"auto: numpy on the CPU — the junction tree has {tree_entries:,} entries, below the "
                f"{threshold:,} where {device} starts to pay (gpu_min_entries)")
        return NumpyOps(), note
    return make_ops(device, backend, dtype), ""
